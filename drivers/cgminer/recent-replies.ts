// Replies to GETs a driver got moments ago, reused at first contact. Meeting a miner,
// the agent (and `scan`, for every live host) asks its firmware the same thing up to
// three times within milliseconds: the detection probe (AxeOS info, Proto system, ePIC
// summary, VNish info), the first read (the same GET), then the capability check (the
// same GET again: AxeOS, Proto, Auradine's mode and PSU). Each answer is kept here and
// the next identical request takes it instead of asking again.
//
// Bounded on purpose: only replies with status 200, keyed by scheme, host, port, path and
// every request header (a token-bearing GET never gets an answer given to another token),
// at most MAX_AGE_MS old, and only for first contact: the driver hands the store
// (DialectContext.recent) to its first read and the capability check that read starts,
// never to a later read, a write or its read-back, which must see the miner as it is now.

/** How old a kept reply may be when it is reused. */
const MAX_AGE_MS = 2000;

/** R: the reply as the transport gives it (http-client.ts HttpReply); only its status is judged here. */
export class RecentReplies<R extends { status: number }> {
  private readonly kept = new Map<string, { reply: R; at: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** A kept reply to the same request, if young enough. */
  get(key: string): R | undefined {
    const k = this.kept.get(key);
    if (!k) return undefined;
    if (this.now() - k.at > MAX_AGE_MS) {
      this.kept.delete(key);
      return undefined;
    }
    return k.reply;
  }

  /** Keeps a reply for reuse (status 200 only: anything else is asked again). */
  keep(key: string, reply: R): void {
    if (reply.status === 200) this.kept.set(key, { reply, at: this.now() });
  }
}

/** The key of one GET: where it went and everything it sent. */
export function requestKey(
  scheme: "http" | "https",
  target: { host: string; port: number },
  path: string,
  headers: Record<string, string>,
): string {
  return `${scheme}://${target.host}:${target.port}${path}\n${JSON.stringify(headers)}`;
}
