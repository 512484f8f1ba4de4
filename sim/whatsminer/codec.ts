// The simulated Whatsminer's own codec, written from the protocol facts and not
// shared with the driver (drivers/cgminer/whatsminer/), so that a bug in either
// side shows up as a failed exchange instead of passing both ends silently.
// Golden vectors in test/unit/whatsminer-golden.test.ts pin both to the same bytes.
// - API v2: md5-crypt (`$1$`, as `openssl passwd -1`) derives the key and the
//   token signature; the AES-256-ECB key is sha256 of the md5-crypt hash part;
//   payloads are NUL-padded to whole 16-byte blocks and sent as base64.
// - API v3: every message is a 4-byte little-endian length then that many bytes
//   of JSON (length 0 = heartbeat); the write token is the first 8 characters of
//   base64(sha256(cmd + password + salt + ts)).
import { createCipheriv, createDecipheriv, createHash } from "node:crypto";

const CRYPT_ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BLOCK = 16;

const md5Of = (...parts: Array<Buffer | string>): Buffer => {
  const h = createHash("md5");
  for (const p of parts) h.update(p);
  return h.digest();
};

/** `count` crypt-base64 characters of the low bits of `word`, least significant first. */
function cryptChars(word: number, count: number): string {
  let s = "";
  for (let k = 0; k < count; k++) s += CRYPT_ALPHABET.charAt((word >>> (6 * k)) & 63);
  return s;
}

// md5-crypt emits the final digest in this byte order, three bytes per group.
const GROUPS: ReadonlyArray<readonly [number, number, number]> = [
  [0, 6, 12],
  [1, 7, 13],
  [2, 8, 14],
  [3, 9, 15],
  [4, 10, 5],
];

/** The hash part (22 characters after the last `$`) of md5-crypt(password, salt); salt ≤ 8 chars used. */
export function simMd5Crypt(password: string, salt: string): string {
  const pw = Buffer.from(password, "utf8");
  const sl = Buffer.from(salt.slice(0, 8), "utf8");
  const alternate = md5Of(pw, sl, pw);
  const first: Buffer[] = [pw, Buffer.from("$1$"), sl];
  for (let n = pw.length; n > 0; n -= BLOCK) first.push(alternate.subarray(0, Math.min(n, BLOCK)));
  for (let bits = pw.length; bits !== 0; bits >>>= 1)
    first.push(bits & 1 ? Buffer.alloc(1) : pw.subarray(0, 1));
  let digest = md5Of(...first);
  // 1000 rounds that stir password, salt and the previous digest in a fixed pattern.
  for (let round = 0; round < 1000; round++) {
    const odd = round % 2 === 1;
    const parts: Buffer[] = [odd ? pw : digest];
    if (round % 3 !== 0) parts.push(sl);
    if (round % 7 !== 0) parts.push(pw);
    parts.push(odd ? digest : pw);
    digest = md5Of(...parts);
  }
  let out = "";
  for (const [a, b, c] of GROUPS) out += cryptChars((digest[a]! << 16) | (digest[b]! << 8) | digest[c]!, 4);
  return out + cryptChars(digest[11]!, 2);
}

/** The API v2 AES-256 key for a password and the device's crypt salt. */
export function simAesKey(password: string, salt: string): Buffer {
  return createHash("sha256").update(simMd5Crypt(password, salt)).digest();
}

/** base64 of AES-256-ECB over `text` NUL-padded to whole blocks (the v2 `enc` envelope). */
export function simSeal(text: string, key: Buffer): string {
  const raw = Buffer.from(text, "utf8");
  const padded = Buffer.alloc(Math.ceil(raw.length / BLOCK) * BLOCK);
  raw.copy(padded);
  const cipher = createCipheriv("aes-256-ecb", key, null).setAutoPadding(false);
  return Buffer.concat([cipher.update(padded), cipher.final()]).toString("base64");
}

/** Inverse of simSeal with trailing NULs dropped; null when the input is not whole blocks. */
export function simOpen(b64: string, key: Buffer): string | null {
  const data = Buffer.from(b64.replace(/\s/g, ""), "base64");
  if (data.length === 0 || data.length % BLOCK !== 0) return null;
  const decipher = createDecipheriv("aes-256-ecb", key, null).setAutoPadding(false);
  const plain = Buffer.concat([decipher.update(data), decipher.final()]);
  const last = plain.findLastIndex((b) => b !== 0);
  return plain.subarray(0, last + 1).toString("utf8");
}

/** The API v3 write token the firmware expects for `cmd` at `ts`. */
export function simV3Token({
  cmd,
  password,
  salt,
  ts,
}: {
  cmd: string;
  password: string;
  salt: string;
  ts: number | string;
}): string {
  return createHash("sha256")
    .update(cmd + password + salt + String(ts))
    .digest("base64")
    .substring(0, 8);
}

/** One v3 frame: the 4-byte little-endian length, then the JSON bytes. */
export function simFrame(json: string): Buffer {
  const body = Buffer.from(json, "utf8");
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32LE(body.length, 0);
  body.copy(out, 4);
  return out;
}

/** Largest v3 frame the simulated firmware reads; a longer length drops the connection. */
const SIM_V3_MAX_FRAME = 1024 * 1024;

/**
 * Reassembles v3 frames from a TCP stream: `feed` returns the complete frames so far
 * (heartbeats skipped), or null when a length is over SIM_V3_MAX_FRAME.
 */
export function simFrameReader(): { feed(chunk: Buffer): Buffer[] | null } {
  let held: Buffer = Buffer.alloc(0);
  return {
    feed(chunk) {
      held = held.length ? Buffer.concat([held, chunk]) : chunk;
      const frames: Buffer[] = [];
      let at = 0;
      while (held.length - at >= 4) {
        const size = held.readUInt32LE(at);
        if (size > SIM_V3_MAX_FRAME) return null;
        if (held.length - at - 4 < size) break;
        if (size > 0) frames.push(held.subarray(at + 4, at + 4 + size));
        at += 4 + size;
      }
      held = held.subarray(at);
      return frames;
    },
  };
}
