// Login rate limit per client address: a few free tries, then each further
// failure doubles the wait before the next attempt is even checked (with
// jitter, capped). A success clears the address. The table is bounded and
// forgets quiet addresses, so a flood of addresses cannot grow it forever.
export interface LimiterOptions {
  freeFailures?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** An address with no failure for this long starts afresh. */
  forgetMs?: number;
  maxEntries?: number;
  random?: () => number;
}

interface Entry {
  failures: number;
  lastFailureAt: number;
  blockedUntil: number;
}

export class LoginLimiter {
  private readonly entries = new Map<string, Entry>();
  private readonly o: Required<LimiterOptions>;

  constructor(opts: LimiterOptions = {}) {
    this.o = {
      freeFailures: opts.freeFailures ?? 3,
      baseDelayMs: opts.baseDelayMs ?? 1000,
      maxDelayMs: opts.maxDelayMs ?? 300_000,
      forgetMs: opts.forgetMs ?? 3_600_000,
      maxEntries: opts.maxEntries ?? 10_000,
      random: opts.random ?? Math.random,
    };
  }

  /** Milliseconds this address must still wait; 0 when it may try now. */
  waitMs(addr: string, now = Date.now()): number {
    const e = this.entries.get(addr);
    if (!e) return 0;
    if (now - e.lastFailureAt > this.o.forgetMs) {
      this.entries.delete(addr);
      return 0;
    }
    return Math.max(0, e.blockedUntil - now);
  }

  failure(addr: string, now = Date.now()): void {
    let e = this.entries.get(addr);
    if (e && now - e.lastFailureAt > this.o.forgetMs) e = undefined;
    if (!e) {
      if (this.entries.size >= this.o.maxEntries) {
        this.entries.delete(this.entries.keys().next().value as string);
      }
      e = { failures: 0, lastFailureAt: now, blockedUntil: 0 };
    }
    this.entries.delete(addr); // re-insert: the map's order is the order of last failure
    e.failures += 1;
    e.lastFailureAt = now;
    const over = e.failures - this.o.freeFailures;
    if (over > 0) {
      const base = Math.min(this.o.maxDelayMs, this.o.baseDelayMs * 2 ** (over - 1));
      // ±20 % jitter so that scripted retries from many clients do not line up
      e.blockedUntil = now + Math.round(base * (0.8 + 0.4 * this.o.random()));
    }
    this.entries.set(addr, e);
  }

  success(addr: string): void {
    this.entries.delete(addr);
  }
}
