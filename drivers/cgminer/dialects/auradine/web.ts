// The FluxOS web API (HTTP, port 8080): `POST /token` with
// {"command":"token","user","password"} answers Token[0].Token, which every
// later request carries in a `Token` header; GET reads a section, POST with
// {"command":<name>, …} changes it (docs/research.md §2).
//
// Tokens are cached per host:port:user and shared by every driver in the
// process; concurrent callers share one login. A request answered 401, or
// STATUS E whose message speaks of the token or session (how asic-rs sees an
// expired one), drops the token and logs in once more; a second refusal right
// after a fresh login is an auth failure. A login refused (HTTP 401/403, or
// STATUS E) is WK_AURADINE_AUTH, not retryable. Transport failures carry the
// AURADINE label (WK_AURADINE_TIMEOUT, _REFUSED…).

import { DriverError } from "../../../types.ts";
import type { DialectContext } from "../../driver.ts";
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_READ_TIMEOUT_MS } from "../../framing.ts";
import { jsonRequest } from "../../http-json.ts";
import {
  firmwareChanged,
  StatusReply,
  statusOf,
  statusOk,
  TokenReply,
  versionOfDescription,
} from "./schema.ts";

export const LABEL = "AURADINE";
export const AURADINE_WEB_PORT = 8080;
/** FluxOS factory login (pyasic's default for Auradine); used when no credentials are configured. */
const FACTORY_CREDENTIALS = { username: "admin", password: "admin" } as const;

export interface FluxTarget {
  host: string;
  port: number;
  username: string;
  password: string;
}

/** One FluxOS request: its method, path and JSON body (none: no body). */
export interface FluxRequest {
  method: "GET" | "POST";
  path: string;
  body?: Record<string, unknown>;
}

export function targetOf(ctx: DialectContext): FluxTarget {
  const c = ctx.endpoint.credentials;
  const configured = typeof c?.username === "string" && c.username !== "" && typeof c.password === "string";
  return {
    host: ctx.endpoint.host,
    port: ctx.endpoint.webPort ?? AURADINE_WEB_PORT,
    username: configured ? c!.username! : FACTORY_CREDENTIALS.username,
    password: configured ? c!.password! : FACTORY_CREDENTIALS.password,
  };
}

export const unitKey = (t: { host: string; port: number }) => `${t.host}:${t.port}`;
const tokenKey = (t: FluxTarget) => `${t.host}:${t.port}:${t.username}`;

interface TokenSlot {
  token: string | null;
  pending: Promise<string> | null;
}
const tokens = new Map<string, TokenSlot>();

/** The firmware version last seen per unit (host:port), for drift messages. */
export const knownVersion = new Map<string, string>();

/** Forgets the cached token of this target (close(), tests). */
export function forgetToken(t: FluxTarget): void {
  tokens.delete(tokenKey(t));
}

function timeouts(ctx: DialectContext) {
  const connectTimeoutMs = ctx.exchange.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  return {
    connectTimeoutMs,
    timeoutMs: connectTimeoutMs + (ctx.exchange.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS),
    recent: ctx.recent,
  };
}

/** Reads the version from a reply's STATUS Description and remembers it for the unit. */
function noteVersion(t: FluxTarget, json: unknown): void {
  const v = versionOfDescription(statusOf(json)?.Description);
  if (v) knownVersion.set(unitKey(t), v);
}

/** The JSON of one request; a reply that is not JSON is firmware drift, not a guess. */
async function send(
  ctx: DialectContext,
  t: FluxTarget,
  { method, path, body, token }: FluxRequest & { token: string | null },
): Promise<{ status: number; json: unknown }> {
  try {
    const reply = await jsonRequest(
      { host: t.host, port: t.port },
      {
        method,
        path,
        json: body,
        headers: token === null ? undefined : { Token: token },
        label: LABEL,
        signal: ctx.signal,
        ...timeouts(ctx),
      },
    );
    return { status: reply.status, json: reply.json };
  } catch (err) {
    if (err instanceof DriverError && err.code === `WK_${LABEL}_BAD_REPLY`) {
      throw firmwareChanged(
        { what: `${method} ${path}`, version: knownVersion.get(unitKey(t)) ?? null },
        err.message.replace(/^\w+ \S+: /, ""),
      );
    }
    throw err;
  }
}

async function login(ctx: DialectContext, t: FluxTarget): Promise<string> {
  const { status, json } = await send(ctx, t, {
    method: "POST",
    path: "/token",
    body: { command: "token", user: t.username, password: t.password },
    token: null,
  });
  noteVersion(t, json);
  const st = statusOf(json);
  if (status === 401 || status === 403 || (st && !statusOk(st))) {
    throw new DriverError(
      `WK_${LABEL}_AUTH`,
      `FluxOS login refused for user "${t.username}" (HTTP ${status}${st?.Msg ? `: ${st.Msg}` : ""}): wrong username or password`,
      false,
    );
  }
  const parsed = TokenReply.safeParse(json);
  if (status !== 200 || !parsed.success) {
    throw firmwareChanged(
      { what: "POST /token", version: knownVersion.get(unitKey(t)) ?? null },
      `login answered HTTP ${status} without Token[0].Token (the auth flow changed)`,
    );
  }
  return parsed.data.Token[0]!.Token;
}

/** The cached token, or one fresh login shared by every caller waiting for it. */
function tokenFor(ctx: DialectContext, t: FluxTarget): Promise<string> {
  const key = tokenKey(t);
  let slot = tokens.get(key);
  if (!slot) {
    slot = { token: null, pending: null };
    tokens.set(key, slot);
  }
  if (slot.token !== null) return Promise.resolve(slot.token);
  const s = slot;
  s.pending ??= login(ctx, t)
    .then((token) => {
      s.token = token;
      return token;
    })
    .finally(() => {
      s.pending = null;
    });
  return s.pending;
}

/** Drops `token` if it is still the cached one (a concurrent caller may have replaced it already). */
function dropToken(t: FluxTarget, token: string): void {
  const slot = tokens.get(tokenKey(t));
  if (slot?.token === token) slot.token = null;
}

const TOKEN_WORDS = /token|session|expired|unauthori[sz]ed/i;

/**
 * One authenticated request: the JSON reply, its STATUS a success. Throws
 * WK_AURADINE_REFUSED (not retryable) for a STATUS E, WK_FIRMWARE_CHANGED for
 * an endpoint gone (404/405) or a reply without a STATUS.
 */
export async function fluxRequest(ctx: DialectContext, req: FluxRequest): Promise<unknown> {
  const { method, path } = req;
  const t = targetOf(ctx);
  const what = `${method} ${path}`;
  for (let attempt = 1; ; attempt++) {
    const token = await tokenFor(ctx, t);
    const { status, json } = await send(ctx, t, { ...req, token });
    const st = statusOf(json);
    const tokenRefused = status === 401 || (st !== null && !statusOk(st) && TOKEN_WORDS.test(st.Msg ?? ""));
    if (tokenRefused) {
      dropToken(t, token);
      if (attempt === 1) continue;
      throw new DriverError(
        `WK_${LABEL}_AUTH`,
        `${what}: the token was refused right after a fresh login (HTTP ${status}${st?.Msg ? `: ${st.Msg}` : ""})`,
        false,
      );
    }
    noteVersion(t, json);
    const version = knownVersion.get(unitKey(t)) ?? null;
    if (status === 404 || status === 405) {
      throw firmwareChanged({ what, version }, `HTTP ${status}: the endpoint is gone`);
    }
    if (!StatusReply.safeParse(json).success) {
      if (status >= 500) {
        throw new DriverError(`WK_${LABEL}_HTTP`, `${what}: HTTP ${status} without a FluxOS STATUS`, true);
      }
      throw firmwareChanged({ what, version }, `HTTP ${status} reply has no STATUS[0] (reply shape changed)`);
    }
    if (!statusOk(st!)) {
      throw new DriverError(
        `WK_${LABEL}_REFUSED`,
        `${what} refused: ${st!.Msg || "no message"} (Code ${st!.Code ?? "?"})`,
        false,
      );
    }
    return json;
  }
}

/**
 * `dialect: auto`: GET /ipreport without a token, read-only. FluxOS answers
 * JSON whose STATUS Description names FluxOS or GCMiner (the refusal of a
 * request without a token included), or an IPReport section. Anything else
 * (no JSON, another envelope) is not FluxOS.
 */
export async function probeFluxos(ctx: DialectContext): Promise<string | null> {
  const t = targetOf(ctx);
  let reply: { status: number; json: unknown };
  try {
    reply = await send(ctx, t, { method: "GET", path: "/ipreport", token: null });
  } catch (err) {
    if (err instanceof DriverError && err.code === "WK_FIRMWARE_CHANGED") return null; // not JSON
    throw err;
  }
  const description = statusOf(reply.json)?.Description ?? "";
  const marker = /^(FluxOS|GCMiner)-\S+/i.exec(description);
  const hasReport =
    typeof reply.json === "object" &&
    reply.json !== null &&
    Array.isArray((reply.json as Record<string, unknown>).IPReport);
  if (!marker && !hasReport) return null;
  const label = marker ? marker[0].split("-").slice(0, 3).join("-") : "IPReport section";
  return `GET :${t.port}/ipreport: ${label} (HTTP ${reply.status})`;
}
