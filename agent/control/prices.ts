// The prices the economic cut works with, treated as an input from outside
// the site: a value from a topic must be plausible (within the configured
// bounds), not older than the one it replaces, and it expires after maxAgeS
// rather than persisting: an unknown price means no economic cut, never a cut
// on a number nobody vouches for any more. Fixed prices from the config never
// expire. Pure: `now` is an argument.
import type { Prices } from "./budget.ts";

export type PriceField = keyof Prices;

export interface PriceLimits {
  min: number;
  max: number;
  maxAgeS: number;
}

export type PriceRejection = "out-of-range" | "expired" | "older" | "future";

/** How far ahead of our clock an issue time may be (clock skew between publisher and gateway). */
const FUTURE_SKEW_MS = 300_000;

interface Entry {
  value: number | null;
  /** When the value was issued (or received, when the message does not say). */
  at: number;
  fixed: boolean;
}

export interface PriceStatus {
  value: number | null;
  /** fixed (config), fresh, expired (too old: no longer used), unknown. */
  state: "fixed" | "fresh" | "expired" | "unknown";
  ageS: number | null;
}

export class PriceBook {
  private readonly entries = new Map<PriceField, Entry>();
  private readonly expiredNoted = new Set<PriceField>();

  constructor(
    private readonly limits: Record<PriceField, PriceLimits>,
    fixed: Partial<Prices> = {},
  ) {
    for (const field of ["energyPricePerKwh", "hashpricePerThDay"] as const) {
      const v = fixed[field];
      if (v !== null && v !== undefined) this.entries.set(field, { value: v, at: 0, fixed: true });
    }
  }

  /**
   * Offers a value from a topic, issued at `issuedAt` (null: now). Null clears
   * the price. Returns why it was refused, or null when taken.
   */
  offer(
    field: PriceField,
    { value, issuedAt }: { value: number | null; issuedAt: number | null },
    now: number,
  ): { code: PriceRejection; error: string } | null {
    const l = this.limits[field];
    const at = issuedAt ?? now;
    if (at > now + FUTURE_SKEW_MS) {
      return { code: "future", error: `issued ${Math.round((at - now) / 1000)} s in the future` };
    }
    if (now - at > l.maxAgeS * 1000) {
      return {
        code: "expired",
        error: `issued ${Math.round((now - at) / 1000)} s ago, beyond maxAgeS ${l.maxAgeS} s`,
      };
    }
    const cur = this.entries.get(field);
    if (cur && !cur.fixed && issuedAt !== null && at < cur.at) {
      return { code: "older", error: "issued before the price in force" };
    }
    if (value !== null && (value < l.min || value > l.max)) {
      return { code: "out-of-range", error: `${value} is outside the plausible range ${l.min} … ${l.max}` };
    }
    this.entries.set(field, { value, at, fixed: false });
    this.expiredNoted.delete(field);
    return null;
  }

  /** The prices in force now: expired ones are unknown. */
  current(now: number): Prices {
    return {
      energyPricePerKwh: this.valueAt("energyPricePerKwh", now),
      hashpricePerThDay: this.valueAt("hashpricePerThDay", now),
    };
  }

  status(field: PriceField, now: number): PriceStatus {
    const e = this.entries.get(field);
    if (!e || e.value === null) return { value: null, state: "unknown", ageS: null };
    if (e.fixed) return { value: e.value, state: "fixed", ageS: null };
    const ageS = Math.max(0, Math.round((now - e.at) / 1000));
    return { value: e.value, state: ageS > this.limits[field].maxAgeS ? "expired" : "fresh", ageS };
  }

  /** Prices that have expired since the last call (each reported once per value). */
  newlyExpired(now: number): PriceField[] {
    const out: PriceField[] = [];
    for (const field of ["energyPricePerKwh", "hashpricePerThDay"] as const) {
      if (this.status(field, now).state === "expired" && !this.expiredNoted.has(field)) {
        this.expiredNoted.add(field);
        out.push(field);
      }
    }
    return out;
  }

  private valueAt(field: PriceField, now: number): number | null {
    const s = this.status(field, now);
    return s.state === "fixed" || s.state === "fresh" ? s.value : null;
  }
}
