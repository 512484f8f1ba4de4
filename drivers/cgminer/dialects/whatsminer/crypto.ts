// Whatsminer API crypto, built on node:crypto only.
// - md5-crypt (`$1$`, the FreeBSD/PHK scheme `openssl passwd -1` implements):
//   API v2 derives its AES key and its per-token signature with it.
// - AES-256-ECB with NUL padding to 16 bytes (not PKCS#7), base64 on the wire.
// - The API v3 token: the first 8 characters of base64(sha256(cmd + password + salt + ts)).
import { createCipheriv, createDecipheriv, createHash } from "node:crypto";

const ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const MAGIC = "$1$";

function md5(...parts: Buffer[]): Buffer {
  const h = createHash("md5");
  for (const p of parts) h.update(p);
  return h.digest();
}

function to64(v: number, n: number): string {
  let out = "";
  for (let i = 0; i < n; i++) {
    out += ITOA64[v & 0x3f];
    v >>>= 6;
  }
  return out;
}

/**
 * md5-crypt of `password` with `salt` (at most 8 characters are used; a
 * leading `$1$` and anything from the next `$` on are ignored, as crypt(3)
 * does). Returns the full `$1$<salt>$<22 chars>` string.
 */
export function md5Crypt(password: string, salt: string): string {
  let s = salt.startsWith(MAGIC) ? salt.slice(MAGIC.length) : salt;
  const dollar = s.indexOf("$");
  if (dollar >= 0) s = s.slice(0, dollar);
  s = s.slice(0, 8);
  const pw = Buffer.from(password, "utf8");
  const sb = Buffer.from(s, "utf8");
  const magic = Buffer.from(MAGIC, "utf8");

  const alt = md5(pw, sb, pw);
  const ctx = createHash("md5");
  ctx.update(pw);
  ctx.update(magic);
  ctx.update(sb);
  for (let left = pw.length; left > 0; left -= 16) ctx.update(alt.subarray(0, Math.min(16, left)));
  for (let i = pw.length; i > 0; i >>>= 1) {
    ctx.update(i & 1 ? Buffer.from([0]) : pw.subarray(0, 1));
  }
  let fin: Buffer = ctx.digest();
  for (let i = 0; i < 1000; i++) {
    const parts: Buffer[] = [i & 1 ? pw : fin];
    if (i % 3) parts.push(sb);
    if (i % 7) parts.push(pw);
    parts.push(i & 1 ? fin : pw);
    fin = md5(...parts);
  }
  const f = fin;
  const hash =
    to64((f[0]! << 16) | (f[6]! << 8) | f[12]!, 4) +
    to64((f[1]! << 16) | (f[7]! << 8) | f[13]!, 4) +
    to64((f[2]! << 16) | (f[8]! << 8) | f[14]!, 4) +
    to64((f[3]! << 16) | (f[9]! << 8) | f[15]!, 4) +
    to64((f[4]! << 16) | (f[10]! << 8) | f[5]!, 4) +
    to64(f[11]!, 2);
  return `${MAGIC}${s}$${hash}`;
}

/** The part of md5-crypt after the last `$` (what the Whatsminer v2 API uses as key and sign). */
export function md5CryptHash(password: string, salt: string): string {
  const full = md5Crypt(password, salt);
  return full.slice(full.lastIndexOf("$") + 1);
}

/** AES-256 key: sha256 of the text (the v2 key is the md5-crypt hash part). */
export function aesKeyOf(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

function zeroPad(b: Buffer): Buffer {
  const rem = b.length % 16;
  return rem === 0 ? b : Buffer.concat([b, Buffer.alloc(16 - rem)]);
}

/** base64(aes256ecb(text NUL-padded to 16 bytes)). */
export function aesEncryptB64(text: string, key: Buffer): string {
  const c = createCipheriv("aes-256-ecb", key, null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(zeroPad(Buffer.from(text, "utf8"))), c.final()]).toString("base64");
}

/**
 * Inverse of aesEncryptB64; trailing NULs are stripped. Returns null when the
 * input is not whole AES blocks (a wrong key gives garbage, not an error).
 */
export function aesDecryptB64(b64: string, key: Buffer): string | null {
  const data = Buffer.from(b64.replace(/\s+/g, ""), "base64");
  if (data.length === 0 || data.length % 16 !== 0) return null;
  const d = createDecipheriv("aes-256-ecb", key, null);
  d.setAutoPadding(false);
  const out = Buffer.concat([d.update(data), d.final()]);
  let end = out.length;
  while (end > 0 && out[end - 1] === 0) end--;
  return out.subarray(0, end).toString("utf8");
}

/** The inputs of a v3 write token: the command, the password, the unit's salt and the request's ts (seconds). */
export interface V3TokenInput {
  cmd: string;
  password: string;
  salt: string;
  ts: number | string;
}

/** API v3 write token: first 8 characters of base64(sha256(cmd + password + salt + ts)). */
export function v3Token({ cmd, password, salt, ts }: V3TokenInput): string {
  return createHash("sha256").update(`${cmd}${password}${salt}${ts}`, "utf8").digest("base64").slice(0, 8);
}
