// Whatsminer API v3 (TCP 4433, firmware from about 2024-11): length-prefixed
// JSON `{"cmd":"get.x","param":…}` answered by `{code, when, msg, desc}` (code 0
// = success). Writes (`set.*`) add `ts`, `account:"super"` and `token`, the
// first 8 characters of base64(sha256(cmd + password + salt + ts)), with the
// device salt from `get.device.info` (param `salt`).
import { DriverError } from "../../../types.ts";
import type { ExchangeOptions } from "../../framing.ts";
import type { Json } from "../../repair.ts";
import { v3Token } from "./crypto.ts";
import { normalizeV3, v3Msg } from "./normalize.ts";
import { v3Exchange } from "./v3-framing.ts";

export interface V3Target {
  host: string;
  port: number;
}

export interface V3Session {
  salt: string | null;
}

/** One read-only v3 command (`param`: none = the field left out). */
export async function v3Get(
  t: V3Target,
  { cmd, param }: { cmd: string; param?: Json | undefined },
  opts: ExchangeOptions,
) {
  const req: Record<string, Json> = { cmd };
  if (param !== undefined) req.param = param;
  return v3Exchange(t, req, opts);
}

function describe(reply: Json): { code: number | null; msg: string } {
  if (!reply || typeof reply !== "object" || Array.isArray(reply))
    return { code: null, msg: "not an object" };
  const code = typeof reply.code === "number" ? reply.code : Number(reply.code);
  const m = reply.msg;
  return {
    code: Number.isFinite(code) ? code : null,
    msg: typeof m === "string" ? m : JSON.stringify(m ?? ""),
  };
}

/** The salt `set.*` tokens are made with (`get.device.info` salt); read-only. */
export async function fetchSalt(t: V3Target, opts: ExchangeOptions): Promise<string> {
  const reply = await v3Get(t, { cmd: "get.device.info", param: "salt" }, opts);
  const msg = v3Msg(reply);
  const salt = msg?.salt;
  if (typeof salt !== "string" || salt === "") {
    const d = describe(reply);
    throw new DriverError(
      "WK_CGMINER_INVALID_REPLY",
      `get.device.info salt: no salt (code ${d.code ?? "?"}: ${d.msg})`,
      false,
    );
  }
  return salt;
}

/** Sends one `set.*` command; a token refusal refreshes the salt and retries once. */
/** One v3 `set.*` command: its parameter and what it is sent with. */
export interface V3Set {
  password: string;
  cmd: string;
  param: Json;
  exchange: ExchangeOptions;
  now: () => number;
}

export async function v3Set(t: V3Target, session: V3Session, w: V3Set): Promise<Json> {
  const { password, cmd, param, exchange: opts, now } = w;
  for (let attempt = 0; ; attempt++) {
    session.salt ??= await fetchSalt(t, opts);
    const ts = Math.floor(now() / 1000);
    const reply = await v3Exchange(
      t,
      { cmd, param, ts, account: "super", token: v3Token({ cmd, password, salt: session.salt, ts }) },
      opts,
    );
    const d = describe(reply);
    if (d.code === 0) return reply;
    if (/permission|denied|default password|write/i.test(d.msg)) {
      throw new DriverError(
        "WK_WHATSMINER_DENIED",
        `${cmd} refused by the miner (code ${d.code}: ${d.msg}): enable API write access in WhatsMinerTool and change the default password`,
        false,
      );
    }
    if (/token|sign|auth|password|salt/i.test(d.msg)) {
      session.salt = null;
      if (attempt === 0) continue;
      throw new DriverError(
        "WK_WHATSMINER_AUTH",
        `${cmd}: the miner rejected the token (code ${d.code}: ${d.msg}): wrong password?`,
        false,
      );
    }
    throw new DriverError("WK_WHATSMINER_ERROR", `${cmd} failed (code ${d.code ?? "?"}: ${d.msg})`, false);
  }
}

/** One v3 poll: `get.miner.status` (summary) and `get.device.info`. Throws on I/O. */
export async function v3Read(t: V3Target, opts: ExchangeOptions, now: () => number) {
  const status = await v3Get(t, { cmd: "get.miner.status", param: "summary" }, opts);
  if (v3Msg(status) === null) {
    const d = describe(status);
    throw new DriverError(
      "WK_CGMINER_ERROR_STATUS",
      `get.miner.status: code ${d.code ?? "?"}: ${d.msg}`,
      false,
    );
  }
  let device: Json | undefined;
  try {
    device = await v3Get(t, { cmd: "get.device.info" }, opts);
  } catch {
    device = undefined;
  }
  return normalizeV3({ at: now(), status, device });
}
