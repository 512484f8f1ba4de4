// Ed25519 keys and the command signature (docs/design.md, Contracts). The agent
// holds public keys only; the central side (or `wattkeeper send`) holds the
// private key. The signed bytes bind the site, the command name, its id and
// issue time to the canonical body, so a command cannot be replayed on
// another site or under another name.
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomUUID,
  sign,
  verify,
} from "node:crypto";
import { canonicalize } from "./jcs.ts";

const SIGNING_PREFIX = "wattkeeper-cmd/v1";

export interface SignedFields {
  siteId: string;
  name: string;
  id: string;
  issuedAt: string;
  body: unknown;
}

export function signingString(f: SignedFields): string {
  return `${SIGNING_PREFIX}\n${f.siteId}\n${f.name}\n${f.id}\n${f.issuedAt}\n${canonicalize(f.body)}`;
}

/** A public key from PEM (SPKI) or base64 of the 32 raw bytes. Throws on anything else. */
export function parsePublicKey(text: string): KeyObject {
  const t = text.trim();
  let key: KeyObject;
  if (t.startsWith("-----BEGIN")) {
    key = createPublicKey(t);
  } else {
    const raw = Buffer.from(t, "base64");
    if (raw.length !== 32 || raw.toString("base64").replace(/=+$/, "") !== t.replace(/=+$/, "")) {
      throw new Error("expected an Ed25519 public key: PEM, or base64 of 32 raw bytes");
    }
    key = createPublicKey({
      key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") },
      format: "jwk",
    });
  }
  if (key.asymmetricKeyType !== "ed25519") {
    throw new Error(`expected an Ed25519 key, got ${key.asymmetricKeyType ?? "an unknown type"}`);
  }
  return key;
}

export function parsePrivateKey(pem: string): KeyObject {
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType !== "ed25519") {
    throw new Error(`expected an Ed25519 private key, got ${key.asymmetricKeyType ?? "an unknown type"}`);
  }
  return key;
}

function signCommand(privateKey: KeyObject, f: SignedFields): string {
  return sign(null, Buffer.from(signingString(f), "utf8"), privateKey).toString("base64");
}

export function verifyCommand(publicKey: KeyObject, f: SignedFields, sigB64: string): boolean {
  return verifySigned(publicKey, () => signingString(f), sigB64);
}

/** False also when the body has no canonical form (JcsError: a lone surrogate, say). */
function verifySigned(publicKey: KeyObject, text: () => string, sigB64: string): boolean {
  const sig = Buffer.from(sigB64, "base64");
  if (sig.length !== 64) return false;
  try {
    return verify(null, Buffer.from(text(), "utf8"), publicKey, sig);
  } catch {
    return false;
  }
}

/**
 * Price messages are signed by the same keys, but bound to their topic, not to
 * a site: one retained price serves every site that follows it.
 */
const PRICE_SIGNING_PREFIX = "wattkeeper-price/v1";

export interface PriceSignedFields {
  topic: string;
  id: string;
  issuedAt: string;
  body: unknown;
}

function priceSigningString(f: PriceSignedFields): string {
  return `${PRICE_SIGNING_PREFIX}\n${f.topic}\n${f.id}\n${f.issuedAt}\n${canonicalize(f.body)}`;
}

function signPrice(privateKey: KeyObject, f: PriceSignedFields): string {
  return sign(null, Buffer.from(priceSigningString(f), "utf8"), privateKey).toString("base64");
}

export function verifyPrice(publicKey: KeyObject, f: PriceSignedFields, sigB64: string): boolean {
  return verifySigned(publicKey, () => priceSigningString(f), sigB64);
}

/** A signed price message ready to publish (retained) on its topic. */
export function buildPriceEnvelope(
  privateKey: KeyObject,
  o: { topic: string; keyName: string; value: number | null; id?: string; issuedAt?: string },
): { id: string; issuedAt: string; keyName: string; body: { value: number | null }; sig: string } {
  const id = o.id ?? randomUUID();
  const issuedAt = o.issuedAt ?? new Date().toISOString();
  const body = { value: o.value };
  const sig = signPrice(privateKey, { topic: o.topic, id, issuedAt, body });
  return { id, issuedAt, keyName: o.keyName, body, sig };
}

export function generateKeyPair(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
  };
}

/** A signed envelope ready to publish on `<root>/<siteId>/request/<name>`. */
export function buildEnvelope(
  privateKey: KeyObject,
  o: { siteId: string; name: string; keyName: string; body: unknown; id?: string; issuedAt?: string },
): { id: string; issuedAt: string; keyName: string; body: unknown; sig: string } {
  const id = o.id ?? randomUUID();
  const issuedAt = o.issuedAt ?? new Date().toISOString();
  const sig = signCommand(privateKey, { siteId: o.siteId, name: o.name, id, issuedAt, body: o.body });
  return { id, issuedAt, keyName: o.keyName, body: o.body, sig };
}
