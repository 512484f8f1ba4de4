// A price topic's retained message (energy price, hashprice) as a value. Plain
// form: a bare number, or {"value": n, "at"?: ISO or unix seconds}; an empty
// message clears the retained value, which makes the price unknown again.
// Signed form (required with economics.signedPrices): the command envelope's
// shape, {"id","issuedAt","keyName","body":{"value": n|null},"sig"}, signed by
// a command key over the topic (signing.ts). Anything else is refused with a
// reason code, never guessed. Pure: the caller judges bounds and age.
import type { KeyObject } from "node:crypto";
import { z } from "zod";
import { EnvelopeSchema } from "./payloads.ts";
import { verifyPrice } from "./signing.ts";

const MAX_PRICE_BYTES = 1024;

/** ISO-8601 or unix seconds → epoch ms. */
const AtSchema = z.union([z.iso.datetime({ offset: true }), z.number().finite().positive()]);

const PlainSchema = z.union([
  z.number().finite(),
  z.strictObject({ value: z.number().finite(), at: AtSchema.optional() }),
]);

const SignedBodySchema = z.strictObject({ value: z.number().finite().nullable() });

export type PriceRefusal = "oversized" | "malformed" | "unsigned" | "unknown-key" | "bad-signature";

export interface PriceMessage {
  /** null: cleared. */
  value: number | null;
  /** When the price was issued (epoch ms), when the message says; else null (the receipt time stands). */
  issuedAt: number | null;
  /** The key that signed it, for signed messages. */
  keyName: string | null;
}

export interface PriceParseOptions {
  topic: string;
  /** Verify signed envelopes with these keys; with `requireSigned`, plain values are refused. */
  keys?: ReadonlyMap<string, KeyObject>;
  requireSigned?: boolean;
}

/** The message's value, or a refusal code with a reason. */
export function parsePrice(
  payload: Buffer,
  opts: PriceParseOptions,
): PriceMessage | { code: PriceRefusal; error: string } {
  if (payload.length > MAX_PRICE_BYTES)
    return { code: "oversized", error: `larger than ${MAX_PRICE_BYTES} bytes` };
  if (payload.length === 0) {
    // clearing a retained price is the publisher's act too: with signed prices a signed null clears
    if (opts.requireSigned) return { code: "unsigned", error: "an empty message is not signed" };
    return { value: null, issuedAt: null, keyName: null };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString("utf8"));
  } catch {
    return { code: "malformed", error: "not JSON" };
  }
  const envelope = EnvelopeSchema.safeParse(parsed);
  if (envelope.success) return checkSigned(envelope.data, opts);
  if (opts.requireSigned) {
    return { code: "unsigned", error: "prices must be signed envelopes (economics.signedPrices)" };
  }
  const plain = PlainSchema.safeParse(parsed);
  if (!plain.success) return { code: "malformed", error: 'expected a number or {"value": n, "at"?: time}' };
  if (typeof plain.data === "number") return { value: plain.data, issuedAt: null, keyName: null };
  const at = plain.data.at;
  return {
    value: plain.data.value,
    issuedAt: at === undefined ? null : typeof at === "number" ? at * 1000 : Date.parse(at),
    keyName: null,
  };
}

function checkSigned(
  env: z.infer<typeof EnvelopeSchema>,
  opts: PriceParseOptions,
): PriceMessage | { code: PriceRefusal; error: string } {
  const key = opts.keys?.get(env.keyName);
  if (!key) return { code: "unknown-key", error: `no command key named ${JSON.stringify(env.keyName)}` };
  if (!verifyPrice(key, { topic: opts.topic, id: env.id, issuedAt: env.issuedAt, body: env.body }, env.sig)) {
    return {
      code: "bad-signature",
      error: `signature does not verify with key ${env.keyName} for this topic`,
    };
  }
  const body = SignedBodySchema.safeParse(env.body);
  if (!body.success) return { code: "malformed", error: 'expected a body {"value": n or null}' };
  return { value: body.data.value, issuedAt: Date.parse(env.issuedAt), keyName: env.keyName };
}
