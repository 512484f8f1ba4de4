// Operator passwords as scrypt hashes, in the one text format the config
// holds: scrypt$N$r$p$<salt-b64>$<hash-b64>. Verification is constant-time and
// takes as long for an unknown operator as for a wrong password, so a login
// attempt tells nothing about which names exist.
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/** 2^15 × 8 × 128 B = 32 MiB and ~0.1 s per check on a gateway: slow for a guesser, fine for a login. */
export const DEFAULT_SCRYPT: ScryptParams = { N: 32768, r: 8, p: 1 };
const KEY_BYTES = 32;
const SALT_BYTES = 16;

interface Parsed extends ScryptParams {
  salt: Buffer;
  hash: Buffer;
}

const RE = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([^$\s]+)\$([^$\s]+)$/;

export function parseHash(text: string): Parsed | null {
  const m = RE.exec(text);
  if (!m) return null;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (N < 2 || (N & (N - 1)) !== 0 || r < 1 || p < 1) return null;
  const salt = Buffer.from(m[4]!, "base64");
  const hash = Buffer.from(m[5]!, "base64");
  if (salt.length === 0 || hash.length === 0) return null;
  return { N, r, p, salt, hash };
}

/** scrypt with the hash's parameters and salt, `keyLen` bytes long. */
function derive(password: string, q: ScryptParams & { salt: Buffer; keyLen: number }): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // scrypt refuses above maxmem; allow what N and r need, with headroom
    const maxmem = 256 * q.N * q.r * q.p + 16 * 1024 * 1024;
    scrypt(password.normalize("NFC"), q.salt, q.keyLen, { N: q.N, r: q.r, p: q.p, maxmem }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, { ...params, salt, keyLen: KEY_BYTES });
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString("base64")}$${key.toString("base64")}`;
}

/** A stand-in hash for unknown names: the same work is done, and it never matches. */
const DUMMY: Parsed = {
  ...DEFAULT_SCRYPT,
  salt: Buffer.alloc(SALT_BYTES, 7),
  hash: Buffer.alloc(KEY_BYTES, 0),
};

/** True when `password` matches `stored`; a missing or malformed hash does the dummy work and is false. */
export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  const parsed = stored ? parseHash(stored) : null;
  const target = parsed ?? DUMMY;
  const key = await derive(password, { ...target, keyLen: target.hash.length });
  return parsed !== null && key.length === target.hash.length && timingSafeEqual(key, target.hash);
}
