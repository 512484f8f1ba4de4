// The site's prices as an input from outside: values from the price topics
// pass the PriceBook's bounds and age rules; a refusal is an alarm event (one
// per price and reason until a value is taken again, so a flood of bad prices
// costs one event) and a metric; an expiry is one warning event. Values set
// locally (tests, benches, the scenario) go through the same bounds.
import type { SiteConfig } from "../../config/schema.ts";
import type { Prices } from "../control/budget.ts";
import { type PriceBook as Book, PriceBook, type PriceField } from "../control/prices.ts";
import { pricesRefused } from "../runtime/metrics.ts";
import type { NewSiteEvent } from "../store/events.ts";

const NAMES: Record<PriceField, string> = {
  energyPricePerKwh: "energy price",
  hashpricePerThDay: "hashprice",
};

type Economics = NonNullable<SiteConfig["control"]["economics"]>;

export interface PriceOffer {
  value: number | null;
  issuedAt: number | null;
  /** Where it came from (a topic, "local"), and the key that signed it. */
  source: string;
  keyName?: string | null;
}

/** Why a price message was refused: a code (a metric label) and the words for the alarm. */
export interface PriceRefusal {
  code: string;
  error: string;
}

export class SitePrices {
  private readonly book: Book;
  /** The last refusal alarmed per price, so a repeated one is not news. */
  private readonly alarmed = new Map<PriceField, string>();

  constructor(
    economics: Economics | null,
    private readonly emit: (e: NewSiteEvent) => void,
    private readonly changed: () => void,
  ) {
    // without an economics section there are no bounds to judge by: any value is refused
    const none = { min: 0, max: -1, maxAgeS: 0 };
    this.book = new PriceBook(
      {
        energyPricePerKwh: economics?.energyPrice ?? none,
        hashpricePerThDay: economics?.hashprice ?? none,
      },
      {
        energyPricePerKwh: economics?.energyPricePerKwh ?? null,
        hashpricePerThDay: economics?.hashpricePerThDay ?? null,
      },
    );
  }

  /** Offers one price; returns the refusal's reason, or null when taken. */
  offer(field: PriceField, o: PriceOffer, now: number = Date.now()): string | null {
    const r = this.book.offer(field, o, now);
    if (r === null) {
      this.alarmed.delete(field);
      this.changed();
      return null;
    }
    this.refused(field, r, { source: o.source, value: o.value, now });
    return `${r.code}: ${r.error}`;
  }

  /** A message on a price topic that could not be read as a price (malformed, unsigned, bad signature). */
  refused(
    field: PriceField,
    { code, error }: PriceRefusal,
    { source, value = null, now = Date.now() }: { source: string; value?: number | null; now?: number },
  ): void {
    pricesRefused.inc({ price: field, reason: code });
    if (this.alarmed.get(field) === code) return;
    this.alarmed.set(field, code);
    this.emit({
      at: now,
      kind: "price-refused",
      severity: "alarm",
      message: `${NAMES[field]} from ${source} refused (${code}): ${error}; the price in force stays`,
      data: { price: field, code, source, value },
    });
  }

  /** Sets prices from a trusted local caller; the same bounds apply. */
  setLocal(prices: Partial<Prices>, now: number = Date.now()): void {
    for (const field of ["energyPricePerKwh", "hashpricePerThDay"] as const) {
      const v = prices[field];
      if (v !== undefined) this.offer(field, { value: v, issuedAt: null, source: "local" }, now);
    }
  }

  current(now: number = Date.now()): Prices {
    return this.book.current(now);
  }

  status(now: number = Date.now()) {
    return {
      energyPricePerKwh: this.book.status("energyPricePerKwh", now),
      hashpricePerThDay: this.book.status("hashpricePerThDay", now),
    };
  }

  /** Each tick: a price past its maxAgeS becomes unknown, said once. */
  expire(now: number = Date.now()): void {
    for (const field of this.book.newlyExpired(now)) {
      this.emit({
        at: now,
        kind: "price-expired",
        severity: "warning",
        message: `${NAMES[field]} expired: no update within maxAgeS; no economic cut until a fresh one arrives`,
        data: { price: field },
      });
      this.changed();
    }
  }
}
