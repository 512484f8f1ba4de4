// A price topic's retained message (energy price, hashprice) as a value: a
// bare number or {"value": n}; an empty message clears the retained value,
// which makes the price unknown again. Anything else is refused, never guessed.
import { z } from "zod";

const MAX_PRICE_BYTES = 1024;

const PriceSchema = z.union([z.number().finite(), z.strictObject({ value: z.number().finite() })]);

/** `{ value }` (null: cleared), or `{ error }` for a payload that is not a price. */
export function parsePrice(payload: Buffer): { value: number | null } | { error: string } {
  if (payload.length === 0) return { value: null };
  if (payload.length > MAX_PRICE_BYTES) return { error: `larger than ${MAX_PRICE_BYTES} bytes` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString("utf8"));
  } catch {
    return { error: 'expected a number or {"value": n}' };
  }
  const r = PriceSchema.safeParse(parsed);
  if (!r.success) return { error: 'expected a number or {"value": n}' };
  return { value: typeof r.data === "number" ? r.data : r.data.value };
}
