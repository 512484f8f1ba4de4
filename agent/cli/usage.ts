// A user's mistake on the command line: printed without a stack trace, exit 2.
import { type ParseArgsConfig, parseArgs } from "node:util";
export class UsageError extends Error {}

/** Where a command prints (stdout; a test's buffer). */
export type Out = { write(s: string): unknown };

/** A command's flags and positionals, parsed strictly (an unknown flag is a usage error). */
export function commandArgs<const O extends NonNullable<ParseArgsConfig["options"]>>(
  argv: string[],
  options: O,
) {
  return parseArgs({ args: argv, allowPositionals: true, strict: true, options });
}
