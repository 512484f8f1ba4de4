// `wattkeeper sign-price --key FILE [--key-name NAME] --topic TOPIC VALUE`:
// prints a signed price envelope for a site with economics.signedPrices, to
// publish retained on that topic with any MQTT client:
//   mosquitto_pub -r -t prices/ercot/lz_west -m "$(wattkeeper sign-price --key ops.key.pem --topic prices/ercot/lz_west 0.08)"
// VALUE `null` clears the price. The envelope is bound to the topic, not to a
// site: one retained price serves every site that follows it.
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { buildPriceEnvelope, parsePrivateKey } from "../mqtt/signing.ts";
import { commandArgs, type Out, UsageError } from "./usage.ts";

export async function signPriceCommand(argv: string[], out: Out = process.stdout): Promise<number> {
  const { values, positionals } = commandArgs(argv, {
    key: { type: "string" },
    "key-name": { type: "string" },
    topic: { type: "string" },
  });
  if (!values.key) throw new UsageError("sign-price needs --key FILE (the private key, PEM)");
  if (!values.topic)
    throw new UsageError("sign-price needs --topic TOPIC (the price topic it is published on)");
  if (positionals.length !== 1)
    throw new UsageError("sign-price takes one VALUE (a number, or null to clear)");
  const text = positionals[0]!;
  const value = text === "null" ? null : Number(text);
  if (value !== null && (text.trim() === "" || !Number.isFinite(value))) {
    throw new UsageError(`VALUE must be a number or null, got '${text}'`);
  }
  let pem: string;
  try {
    pem = readFileSync(values.key, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read --key ${values.key}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  let key: ReturnType<typeof parsePrivateKey>;
  try {
    key = parsePrivateKey(pem);
  } catch (e) {
    throw new UsageError(`--key ${values.key}: ${(e as Error).message}`);
  }
  const keyName = values["key-name"] ?? basename(values.key).replace(/\.key\.pem$/, "");
  out.write(`${JSON.stringify(buildPriceEnvelope(key, { topic: values.topic, keyName, value }))}\n`);
  return 0;
}
