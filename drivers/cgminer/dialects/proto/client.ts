// HTTP(S) client for one Proto rig's MDK API: the scheme, the JWT and the
// statuses every call shares.
//
// Scheme: a rig serves HTTPS with a self-signed certificate (Proto Fleet
// discovers rigs on 443 and tries https before http); a rig or a test bench on
// plain HTTP is found by falling back when the TLS handshake fails. What worked
// is kept per host:port and asked again after a transport failure.
//
// Auth: POST /api/v1/auth/login {password} → {access_token, refresh_token}
// (JWT). The access token is cached per host:port:user with the expiry read
// from its `exp` claim (not verified: the rig judges it) and replaced by a new
// login shortly before it expires (the password is at hand; /auth/refresh
// would be a second flow to keep working). A 401 to a call made with a cached
// token logs in once more and repeats the call; a 401 to the fresh token means
// the auth flow changed (WK_FIRMWARE_CHANGED). A login refused (401/403/400)
// is WK_PROTO_AUTH, not retryable.

import { createHash } from "node:crypto";
import { DriverError } from "../../../types.ts";
import type { DialectContext } from "../../driver.ts";
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_READ_TIMEOUT_MS } from "../../framing.ts";
import { isHttpTransportError } from "../../http-client.ts";
import { type JsonReply, jsonRequest } from "../../http-json.ts";
import { jwtExpiryMs } from "./jwt.ts";
import { AuthTokensSchema, firmwareChanged, messageOf, parseReply } from "./schemas.ts";

/** Proto rigs answer HTTPS on 443 (Proto Fleet's discovery port). */
export const PROTO_DEFAULT_PORT = 443;
export const LABEL = "PROTO";
/** A token is replaced this long before its `exp` (or at 80 % of a short life). */
const REFRESH_AHEAD_MS = 60_000;
/** A token without `exp` is used this long, then replaced. */
const NO_EXP_LIFE_MS = 10 * 60_000;

type Scheme = "https" | "http";
type Method = "GET" | "POST" | "PUT";

/** One request of the MDK API: its method, path and JSON body (none: no body). */
export interface ProtoRequest {
  method: Method;
  path: string;
  json?: unknown;
}

interface CachedToken {
  token: string;
  /** When to log in again (before the token expires). */
  renewAt: number;
  /** Which password produced it: a changed password logs in again. */
  passwordHash: string;
}

const schemes = new Map<string, Scheme>();
const tokens = new Map<string, CachedToken>();
/** Logins in flight per token key: concurrent calls share one. */
const logins = new Map<string, Promise<string>>();

/** Firmware versions last read per host:port, for naming firmware in drift errors. */
const versions = new Map<string, string>();

function protoPort(ctx: DialectContext): number {
  return ctx.endpoint.webPort ?? PROTO_DEFAULT_PORT;
}

const hostKey = (ctx: DialectContext) => `${ctx.endpoint.host}:${protoPort(ctx)}`;
const tokenKey = (ctx: DialectContext) => `${hostKey(ctx)}:${ctx.endpoint.credentials?.username ?? ""}`;
const hashOf = (s: string) => createHash("sha256").update(s).digest("hex");

export function password(ctx: DialectContext): string | null {
  const p = ctx.endpoint.credentials?.password;
  return typeof p === "string" && p !== "" ? p : null;
}

export function rememberVersion(ctx: DialectContext, version: string): void {
  versions.set(hostKey(ctx), version);
}

export function knownVersion(ctx: DialectContext): string | null {
  return versions.get(hostKey(ctx)) ?? null;
}

/** Forgets the tokens and scheme kept for this rig (dialect close). */
export function forget(ctx: DialectContext): void {
  tokens.delete(tokenKey(ctx));
  schemes.delete(hostKey(ctx));
}

function timeouts(ctx: DialectContext) {
  const connectTimeoutMs = ctx.exchange.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  return {
    connectTimeoutMs,
    timeoutMs: connectTimeoutMs + (ctx.exchange.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS),
    recent: ctx.recent,
  };
}

/** One request in the scheme this rig speaks (negotiated on first contact). */
async function send(
  ctx: DialectContext,
  { method, path, json }: ProtoRequest,
  bearer: string | undefined,
): Promise<JsonReply> {
  const key = hostKey(ctx);
  const target = { host: ctx.endpoint.host, port: protoPort(ctx) };
  const go = (scheme: Scheme) =>
    jsonRequest(target, {
      method,
      path,
      json,
      bearer,
      label: LABEL,
      tls: scheme === "https",
      signal: ctx.signal,
      ...timeouts(ctx),
    });
  const known = schemes.get(key);
  if (known) {
    try {
      return await go(known);
    } catch (err) {
      // the rig may have changed (a firmware turning HTTPS on): negotiate again next time
      if (isHttpTransportError(err, LABEL) || isTlsError(err)) schemes.delete(key);
      throw err;
    }
  }
  try {
    const reply = await go("https");
    schemes.set(key, "https");
    return reply;
  } catch (err) {
    if (!isTlsError(err)) throw err;
  }
  const reply = await go("http");
  schemes.set(key, "http");
  return reply;
}

function isTlsError(err: unknown): boolean {
  return err instanceof DriverError && err.code === `WK_${LABEL}_TLS`;
}

/** An unauthenticated GET (the probe, /api/v1/system). */
export function getPublic(ctx: DialectContext, path: string): Promise<JsonReply> {
  return send(ctx, { method: "GET", path }, undefined);
}

async function login(ctx: DialectContext): Promise<string> {
  const pw = password(ctx);
  if (pw === null) {
    throw new DriverError(
      "WK_PROTO_NO_CREDENTIALS",
      "the MDK API needs the rig's password (credentials.password) for mining status and control",
      false,
    );
  }
  const where = "POST /api/v1/auth/login";
  const reply = await send(
    ctx,
    { method: "POST", path: "/api/v1/auth/login", json: { password: pw } },
    undefined,
  );
  if (reply.status === 401 || reply.status === 403 || reply.status === 400) {
    const why = messageOf(reply.json);
    throw new DriverError(
      "WK_PROTO_AUTH",
      `login refused by the rig (HTTP ${reply.status}${why ? `: ${why}` : ""}): ${
        reply.status === 403
          ? "the rig refuses logins until its default password is changed, or this client is locked out"
          : "wrong password in credentials.password"
      }`,
      false,
    );
  }
  if (reply.status === 404 || reply.status === 405) {
    throw firmwareChanged(
      knownVersion(ctx),
      `${where} answered HTTP ${reply.status}: the login endpoint is gone`,
    );
  }
  if (reply.status !== 200) throw statusError(where, reply, knownVersion(ctx));
  const tokens = parseReply(AuthTokensSchema, reply.json, { where, version: knownVersion(ctx) });
  return tokens.access_token;
}

/** A cached, unexpired token, or a new login (shared by concurrent callers). */
async function token(ctx: DialectContext, stale: string | null): Promise<string> {
  const key = tokenKey(ctx);
  const pwHash = hashOf(password(ctx) ?? "");
  const cached = tokens.get(key);
  if (cached && cached.token !== stale && cached.passwordHash === pwHash && ctx.now() < cached.renewAt)
    return cached.token;
  let pending = logins.get(key);
  if (!pending) {
    pending = login(ctx)
      .then((t) => {
        const issuedAt = ctx.now();
        const exp = jwtExpiryMs(t);
        const life = exp === null ? NO_EXP_LIFE_MS : exp - issuedAt;
        // renew a minute early, or at 80 % of a short life (a skewed clock still renews)
        const ahead = Math.min(REFRESH_AHEAD_MS, Math.max(0, life) * 0.2);
        tokens.set(key, { token: t, renewAt: issuedAt + life - ahead, passwordHash: pwHash });
        return t;
      })
      .finally(() => logins.delete(key));
    logins.set(key, pending);
  }
  return pending;
}

/**
 * An authenticated request. A 401 with a cached token logs in once more and
 * repeats; a 401 to a fresh token is an auth flow the dialect does not know.
 */
export async function authed(ctx: DialectContext, req: ProtoRequest): Promise<JsonReply> {
  const { method, path } = req;
  let t = await token(ctx, null);
  let reply = await send(ctx, req, t);
  if (reply.status !== 401) return reply;
  t = await token(ctx, t);
  reply = await send(ctx, req, t);
  if (reply.status !== 401) return reply;
  tokens.delete(tokenKey(ctx));
  throw firmwareChanged(
    knownVersion(ctx),
    `${method} ${path} answered 401 to a token the rig issued just now: the auth flow changed`,
  );
}

/** A status the call does not expect: 404/405 (endpoint gone) is drift; 5xx may pass. */
export function statusError(where: string, reply: JsonReply, version: string | null = null): DriverError {
  const why = messageOf(reply.json);
  if (reply.status === 404 || reply.status === 405) {
    return firmwareChanged(version, `${where} answered HTTP ${reply.status}: the endpoint is gone`);
  }
  if (reply.status === 422 || reply.status === 400 || reply.status === 403) {
    return new DriverError(
      "WK_PROTO_REFUSED",
      `${where} refused by the rig (HTTP ${reply.status})${why ? `: ${why}` : ""}`,
      false,
    );
  }
  return new DriverError(
    "WK_PROTO_HTTP_STATUS",
    `${where} answered HTTP ${reply.status}${why ? `: ${why}` : ""}`,
    reply.status >= 500,
  );
}
