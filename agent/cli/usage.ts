// A user's mistake on the command line: printed without a stack trace, exit 2.
export class UsageError extends Error {}
