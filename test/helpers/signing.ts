// Signed commands for tests and benches: a signer bound to one site and one
// key, whose options forge what an attack would (another key or key name, a
// skewed issue time, a chosen id).
import { buildEnvelope, type parsePrivateKey } from "../../agent/mqtt/signing.ts";

type Key = ReturnType<typeof parsePrivateKey>;
export interface SignOptions {
  key?: Key;
  keyName?: string;
  issuedAt?: string;
  id?: string;
}

/** Signs `name` with `body` for `siteId`, with `key` named "ops" unless the options say otherwise. */
export function commandSigner(siteId: string, key: Key) {
  return (name: string, body: unknown, o: SignOptions = {}) =>
    buildEnvelope(o.key ?? key, {
      siteId,
      name,
      keyName: o.keyName ?? "ops",
      body,
      issuedAt: o.issuedAt,
      id: o.id,
    });
}
