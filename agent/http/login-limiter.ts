// Login rate limits. LoginLimiter is one scope's table: per key, a few free
// tries, then each further failure doubles the wait before the next attempt
// is even checked (with jitter, capped); an attempt refused while waiting is
// not checked and does not extend the wait. The table is bounded and forgets
// quiet keys, so a flood of keys cannot grow it forever.
//
// LoginGuard holds three scopes: per client address (3 free, waits up to
// 5 min), per account name tried (10 free, waits up to 30 s) and for the
// whole site (30 free, waits up to 10 s), so guessing spread over many
// addresses is slowed as much as guessing from one. What keeps this from
// locking the real operator out: the account and site waits are short and
// capped (an attacker cannot stretch one, only start the next after it ends),
// and an address that has logged in successfully (remembered 30 days, in
// memory) is exempt from the account and site scopes — it answers only for
// its own failures. So the operator at a known laptop is never kept out by
// someone else; at a new address, for at most 30 s per wait.
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

type LoginScope = "address" | "account" | "global";

export interface LoginBlock {
  scope: LoginScope;
  waitMs: number;
}

export interface LoginGuardOptions {
  address?: LimiterOptions;
  account?: LimiterOptions;
  global?: LimiterOptions;
  /** An address that logged in is exempt from the account and site limits for this long. */
  knownForMs?: number;
  maxKnown?: number;
}

/** Waits are capped before jitter (±20 %): 25 s → at most 30 s; 8 s → at most about 10 s. */
export const LOGIN_DEFAULTS = {
  address: { freeFailures: 3, baseDelayMs: 1000, maxDelayMs: 300_000, forgetMs: 3_600_000 },
  account: { freeFailures: 10, baseDelayMs: 1000, maxDelayMs: 25_000, forgetMs: 900_000 },
  global: { freeFailures: 30, baseDelayMs: 500, maxDelayMs: 8000, forgetMs: 900_000 },
  knownForMs: 30 * 86_400_000,
  maxKnown: 1024,
} as const;

const GLOBAL_KEY = "*";

export class LoginGuard {
  private readonly byAddress: LoginLimiter;
  private readonly byAccount: LoginLimiter;
  private readonly site: LoginLimiter;
  /** Addresses that logged in, by when (insertion order = oldest first). */
  private readonly known = new Map<string, number>();
  private readonly knownForMs: number;
  private readonly maxKnown: number;

  constructor(opts: LoginGuardOptions = {}) {
    this.byAddress = new LoginLimiter({ ...LOGIN_DEFAULTS.address, ...opts.address });
    this.byAccount = new LoginLimiter({ ...LOGIN_DEFAULTS.account, ...opts.account });
    this.site = new LoginLimiter({ ...LOGIN_DEFAULTS.global, ...opts.global, maxEntries: 1 });
    this.knownForMs = opts.knownForMs ?? LOGIN_DEFAULTS.knownForMs;
    this.maxKnown = opts.maxKnown ?? LOGIN_DEFAULTS.maxKnown;
  }

  /** Whether the address logged in successfully within knownForMs. */
  isKnown(addr: string, now = Date.now()): boolean {
    const at = this.known.get(addr);
    if (at === undefined) return false;
    if (now - at > this.knownForMs) {
      this.known.delete(addr);
      return false;
    }
    return true;
  }

  /** Checked before the body is read: is the address itself waiting? */
  addressWait(addr: string, now = Date.now()): LoginBlock | null {
    const w = this.byAddress.waitMs(addr, now);
    return w > 0 ? { scope: "address", waitMs: w } : null;
  }

  /** Checked once the name is known: the account's and the site's waits (not for a known address). */
  accountWait(addr: string, account: string, now = Date.now()): LoginBlock | null {
    if (this.isKnown(addr, now)) return null;
    const a = this.byAccount.waitMs(account, now);
    if (a > 0) return { scope: "account", waitMs: a };
    const g = this.site.waitMs(GLOBAL_KEY, now);
    return g > 0 ? { scope: "global", waitMs: g } : null;
  }

  /** A checked attempt that failed: it counts in every scope. */
  failure(addr: string, account: string, now = Date.now()): void {
    this.byAddress.failure(addr, now);
    this.byAccount.failure(account, now);
    this.site.failure(GLOBAL_KEY, now);
  }

  /**
   * A login: the address starts afresh and becomes known. The account's and
   * the site's counts stay — someone else may still be guessing.
   */
  success(addr: string, now = Date.now()): void {
    this.byAddress.success(addr);
    this.known.delete(addr);
    if (this.known.size >= this.maxKnown) this.known.delete(this.known.keys().next().value as string);
    this.known.set(addr, now);
  }
}
