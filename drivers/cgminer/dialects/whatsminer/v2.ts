// Whatsminer API v2 (btminer, TCP 4028). Reads are plaintext cgminer-style JSON;
// `get_*` and `status` answer with a flat envelope (STATUS a string, Msg an
// object) and cannot be joined with `+`, so each goes on its own connection.
// Writes are encrypted (API v2.0.x):
//   get_token → Msg {time, salt, newsalt}
//   key    = md5-crypt(password, salt), the part after the last `$`
//   aeskey = sha256(key)
//   sign   = md5-crypt(key + time, newsalt), the part after the last `$`
//   send   {"enc":1,"data":base64(aes256ecb({"cmd":…,"token":sign,…}, aeskey))}
//   reply  {"enc":"base64(aes256ecb(json))"}, or a plaintext error
// Codes: 131 OK, 132 error, 134 token issued, 135/136 token errors, 45 denied.
import { DriverError } from "../../../types.ts";
import { CgminerClient } from "../../client.ts";
import { type ExchangeOptions, exchange } from "../../framing.ts";
import { type Json, parseReplyJson } from "../../repair.ts";
import { aesDecryptB64, aesEncryptB64, aesKeyOf, md5CryptHash } from "./crypto.ts";
import { flatStatus, normalizeV2, type V2Identity } from "./normalize.ts";

const V2_CODE = { OK: 131, ERROR: 132, TOKEN: 134, TOKEN_ERR: 135, TOKEN_LIMIT: 136, DENIED: 45 };

/** Tokens live 30 min on the miner; reuse ours for less than that. */
export const TOKEN_REUSE_MS = 25 * 60_000;

export interface V2Token {
  sign: string;
  aesKey: Buffer;
  at: number;
  /** Fingerprint of the password it was derived from: a token never outlives a password change. */
  pwTag: string;
}

function pwTag(password: string): string {
  return aesKeyOf(`wattkeeper-token:${password}`).toString("base64");
}

export interface V2Target {
  host: string;
  port: number;
}

/** Sends one plaintext v2 command (`{"cmd":…}` plus its fields, sent as given) and parses the reply. */
export async function v2Plain(
  t: V2Target,
  request: { cmd: string } & Record<string, Json>,
  opts: ExchangeOptions = {},
): Promise<Json> {
  const raw = await exchange(t, Buffer.from(JSON.stringify(request), "utf8"), opts);
  const text = raw.toString("utf8");
  if (!/^\s*[{[]/.test(text)) {
    throw new DriverError("WK_CGMINER_NOT_READY", `miner API not ready: ${text.trim().slice(0, 80)}`, true);
  }
  return parseReplyJson(text).value;
}

const msgText = (m: Json | undefined): string => (typeof m === "string" ? m : JSON.stringify(m ?? ""));

/** A v2 refusal that means "use API v3" (newer firmware). */
function isObsoleteReply(code: number | null, msg: Json): boolean {
  return code === 14 || /obsolete|deprecat|not support|api ?v?3|4433/i.test(msgText(msg));
}

export class WhatsminerObsoleteError extends DriverError {
  constructor(message: string) {
    super("WK_WHATSMINER_V2_OBSOLETE", message, true);
  }
}

function deniedError(msg: Json, password: string): DriverError {
  const hint =
    password === "admin"
      ? "the default password 'admin' is still set: change it in WhatsMinerTool"
      : "enable API write access in WhatsMinerTool and change the default password";
  return new DriverError(
    "WK_WHATSMINER_DENIED",
    `write refused by the miner (Code 45: ${msgText(msg)}): ${hint}`,
    false,
  );
}

/** Fetches a token and derives the AES key and sign from the password. */
export async function fetchToken(
  t: V2Target,
  { password, opts, now }: { password: string; opts: ExchangeOptions; now: () => number },
): Promise<V2Token> {
  const reply = await v2Plain(t, { cmd: "get_token" }, opts);
  const st = flatStatus(reply);
  if (!st) throw new DriverError("WK_CGMINER_INVALID_REPLY", "get_token: no STATUS in reply", false);
  if (st.code === V2_CODE.DENIED) throw deniedError(st.msg, password);
  if (st.letter !== "S") {
    if (isObsoleteReply(st.code, st.msg)) {
      throw new WhatsminerObsoleteError(`get_token refused (Code ${st.code}: ${msgText(st.msg)})`);
    }
    throw new DriverError(
      "WK_WHATSMINER_ERROR",
      `get_token failed (Code ${st.code ?? "?"}: ${msgText(st.msg)})`,
      true,
    );
  }
  const m = st.msg;
  const field = (k: string) =>
    m && typeof m === "object" && !Array.isArray(m) && (typeof m[k] === "string" || typeof m[k] === "number")
      ? String(m[k])
      : null;
  const time = field("time");
  const salt = field("salt");
  const newsalt = field("newsalt");
  if (time === null || salt === null || newsalt === null) {
    throw new DriverError("WK_CGMINER_INVALID_REPLY", `get_token: Msg lacks time/salt/newsalt`, false);
  }
  const key = md5CryptHash(password, salt);
  return {
    sign: md5CryptHash(key + time, newsalt),
    aesKey: aesKeyOf(key),
    at: now(),
    pwTag: pwTag(password),
  };
}

/** The encrypted request bytes for one write command. */
function encryptCommand(token: V2Token, cmd: string, fields: Record<string, Json>): Buffer {
  const plain = JSON.stringify({ cmd, ...fields, token: token.sign });
  return Buffer.from(JSON.stringify({ enc: 1, data: aesEncryptB64(plain, token.aesKey) }), "utf8");
}

/** Decodes a write reply: `{"enc":"…"}` is decrypted; a plaintext reply is returned as is. */
function decodeWriteReply(raw: Buffer, aesKey: Buffer): Json {
  const outer = parseReplyJson(raw.toString("utf8")).value;
  if (outer && typeof outer === "object" && !Array.isArray(outer) && typeof outer.enc === "string") {
    const plain = aesDecryptB64(outer.enc, aesKey);
    if (plain === null)
      throw new DriverError("WK_CGMINER_INVALID_REPLY", "encrypted reply is not AES blocks", false);
    try {
      return parseReplyJson(plain).value;
    } catch {
      throw new DriverError(
        "WK_WHATSMINER_AUTH",
        "encrypted reply did not decrypt to JSON: the AES key (from the password) does not match",
        false,
      );
    }
  }
  return outer;
}

/** Per-miner v2 write state: the cached token. */
export interface V2Session {
  token: V2Token | null;
  identity: V2Identity | null;
  identityAt: number;
  tokensFetched: number;
}

export function newV2Session(): V2Session {
  return { token: null, identity: null, identityAt: 0, tokensFetched: 0 };
}

/**
 * Sends one encrypted write. A token error (135/136) drops the cached token and
 * retries once with a fresh one; a second token error means the password is wrong.
 */
/** One v2 write: the command, its fields, and what it is sent with. */
export interface V2Write {
  password: string;
  cmd: string;
  fields: Record<string, Json>;
  exchange: ExchangeOptions;
  now: () => number;
}

export async function v2Write(t: V2Target, session: V2Session, w: V2Write): Promise<Json> {
  const { password, cmd, fields, exchange: opts, now } = w;
  for (let attempt = 0; ; attempt++) {
    let token = session.token;
    if (!token || now() - token.at >= TOKEN_REUSE_MS || token.pwTag !== pwTag(password)) {
      token = await fetchToken(t, { password, opts, now });
      session.tokensFetched++;
      session.token = token;
    }
    const raw = await exchange(t, encryptCommand(token, cmd, fields), opts);
    let reply: Json;
    try {
      reply = decodeWriteReply(raw, token.aesKey);
    } catch (err) {
      session.token = null;
      throw err;
    }
    const st = flatStatus(reply);
    if (!st) throw new DriverError("WK_CGMINER_INVALID_REPLY", `${cmd}: no STATUS in reply`, false);
    if (st.code === V2_CODE.OK || (st.letter === "S" && st.code !== V2_CODE.ERROR)) return reply;
    if (st.code === V2_CODE.TOKEN_ERR || st.code === V2_CODE.TOKEN_LIMIT) {
      session.token = null;
      if (attempt === 0) continue;
      throw new DriverError(
        "WK_WHATSMINER_AUTH",
        `${cmd}: the miner rejected a fresh token (Code ${st.code}: ${msgText(st.msg)}): wrong password?`,
        false,
      );
    }
    if (st.code === V2_CODE.DENIED) throw deniedError(st.msg, password);
    if (isObsoleteReply(st.code, st.msg)) {
      throw new WhatsminerObsoleteError(`${cmd} refused (Code ${st.code}: ${msgText(st.msg)})`);
    }
    throw new DriverError(
      "WK_WHATSMINER_ERROR",
      `${cmd} failed (Code ${st.code ?? "?"}: ${msgText(st.msg)})`,
      false,
    );
  }
}

/** How long firmware/model from get_version/devdetails are reused. */
const IDENTITY_TTL_MS = 10 * 60_000;

async function readIdentity(t: V2Target, opts: ExchangeOptions): Promise<V2Identity> {
  let firmware: string | null = null;
  let model: string | null = null;
  try {
    const st = flatStatus(await v2Plain(t, { cmd: "get_version" }, opts));
    const m = st?.msg;
    if (m && typeof m === "object" && !Array.isArray(m)) {
      const fw = m.fw_ver ?? m.firmware_version;
      if (typeof fw === "string" && fw.trim() !== "") firmware = fw.trim();
    }
  } catch {
    // older firmware: no get_version
  }
  try {
    const client = new CgminerClient(t, opts);
    const { replies } = await client.command(["devdetails"]);
    const r = replies.devdetails;
    const row =
      r && typeof r === "object" && !Array.isArray(r) && Array.isArray(r.DEVDETAILS) ? r.DEVDETAILS[0] : null;
    if (row && typeof row === "object" && !Array.isArray(row) && typeof row.Model === "string") {
      model = row.Model.trim() || null;
    }
  } catch {
    // newer firmware dropped devdetails (asic-rs PR #7)
  }
  return { firmware, model };
}

/** One v2 poll: `summary+pools+devs` joined, then `status` alone, identity now and then. Throws on I/O. */
export async function v2Read(
  t: V2Target,
  session: V2Session,
  { opts, now }: { opts: ExchangeOptions; now: () => number },
) {
  const client = new CgminerClient(t, opts);
  const { replies } = await client.command(["summary", "pools", "devs"]);
  let status: Json | undefined;
  try {
    status = await v2Plain(t, { cmd: "status" }, opts);
  } catch {
    status = undefined;
  }
  if (!session.identity || now() - session.identityAt > IDENTITY_TTL_MS) {
    session.identity = await readIdentity(t, opts);
    session.identityAt = now();
  }
  return normalizeV2({
    at: now(),
    summary: replies.summary,
    pools: replies.pools,
    devs: replies.devs,
    status,
    identity: session.identity,
  });
}
