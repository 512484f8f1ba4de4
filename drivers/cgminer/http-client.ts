// HTTP/1.1 requests under a hard deadline (the socket is destroyed when it
// passes), and the Digest-auth round trip on top: first without credentials,
// once more with them after a 401. Shared by every HTTP-speaking firmware (the
// stock Antminer CGI and the REST dialects); the error codes carry the caller's
// label (WK_<LABEL>_TIMEOUT…), ANTMINER by default. `tls` speaks HTTPS without
// checking the certificate: miners serve self-signed ones (Proto rigs), so only
// the transport is encrypted, as their own tools do.
//
// Connections are kept alive, briefly: one read of a REST firmware is several
// requests back to back (login, then three or four GETs), and a scan asks the
// detection probe and then reads; each used to open its own connection (and,
// for HTTPS, its own handshake). An idle connection is closed after IDLE_MS, far
// inside any server's keep-alive timeout, so a poll cycle holds no sockets
// between reads and a 20,000-miner fleet no idle fds. Should the server still
// close an idle connection just as a request goes out on it, a GET is sent once
// more on a fresh one; anything else fails as a reset (it may have been read),
// and a request with side effects may ask for a connection of its own (`fresh`).
import http from "node:http";
import https from "node:https";
import { createSecureContext, type SecureContext } from "node:tls";
import { unhook, whenAborted } from "../abort.ts";
import type { ErrorCode, HttpFailure, HttpLabel } from "../errors.ts";
import { DriverError } from "../types.ts";
import { type DigestCredentials, digestAuthorization, digestChallenges } from "./digest-auth.ts";
import { type RecentReplies, requestKey } from "./recent-replies.ts";

const MAX_BODY_BYTES = 1024 * 1024;
/** How long an idle kept-alive connection stays open: long enough for the next request of one read. */
const IDLE_MS = 250;
/**
 * One connection per host:port: requests to the same miner wait their turn on it. A read
 * that asks five things at once then costs one connection, not five (a scan of 5,000 hosts
 * pays for every connect and close), and an embedded web server (an ESP32's few sockets,
 * a control board's busy httpd) never sees us open several at once. The price: a command
 * may wait for a read already in flight to that miner (its round trip, at most that read's
 * deadline); a miner that stalls a read that long would not take the command either.
 */
const MAX_SOCKETS_PER_HOST = 1;

export interface HttpTarget {
  host: string;
  port: number;
}

export interface HttpReply {
  status: number;
  /** Every WWW-Authenticate header, in order. */
  authenticate: string[];
  /** Headers by lower-case name (the last one wins when repeated). */
  headers: Record<string, string>;
  body: Buffer;
}

export interface RequestOptions {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  path: string;
  body?: Buffer;
  headers?: Record<string, string>;
  connectTimeoutMs: number;
  /** Deadline for the whole exchange, connect included. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Error-code label: WK_<label>_TIMEOUT, _REFUSED…; default "ANTMINER". */
  label?: HttpLabel;
  /** HTTPS (certificate not verified); a TLS handshake failure is WK_<label>_TLS. */
  tls?: boolean;
  /**
   * A connection of its own, closed after the reply: for a request with side effects whose
   * connection the server may drop on purpose (a reboot), which must never be sent twice.
   */
  fresh?: boolean;
  /** First contact: a GET answered moments ago is taken from here, and its answer kept (recent-replies.ts). */
  recent?: RecentReplies<HttpReply> | undefined;
}

let secureContext: SecureContext | null = null;

/**
 * One TLS context for every HTTPS request: building one per connection (CA store and all) cost
 * a scan of 5,000 hosts most of its CPU, for a client that does not check certificates anyway.
 */
function sharedSecureContext(): SecureContext {
  secureContext ??= createSecureContext();
  return secureContext;
}

let httpAgent: http.Agent | null = null;
let httpsAgent: https.Agent | null = null;

function keepAliveOptions(): http.AgentOptions {
  // `timeout` is the idle timeout of a free socket (the agent destroys it then); a request's
  // own deadline is ours, below
  return { keepAlive: true, maxSockets: MAX_SOCKETS_PER_HOST, maxFreeSockets: 1, timeout: IDLE_MS };
}

function sharedAgent(tls: boolean): http.Agent {
  if (tls) {
    httpsAgent ??= new https.Agent({
      ...keepAliveOptions(),
      rejectUnauthorized: false,
      secureContext: sharedSecureContext(),
    } as https.AgentOptions);
    return httpsAgent;
  }
  httpAgent ??= new http.Agent(keepAliveOptions());
  return httpAgent;
}

/** Thrown inside httpRequest when a reused idle connection was closed under a GET: it goes again. */
class StaleConnection extends Error {}

/**
 * One HTTP/1.1 request, on a kept-alive connection unless `fresh`. The deadline destroys the
 * socket. A GET whose reused connection the server had just closed is sent once more.
 */
export async function httpRequest(target: HttpTarget, opts: RequestOptions): Promise<HttpReply> {
  const recent = opts.method === "GET" ? opts.recent : undefined;
  const key = recent ? requestKey(opts.tls ? "https" : "http", target, opts.path, opts.headers ?? {}) : "";
  const kept = recent?.get(key);
  if (kept) return kept;
  let reply: HttpReply;
  try {
    reply = await requestOnce(target, opts, true);
  } catch (err) {
    if (!(err instanceof StaleConnection)) throw err;
    reply = await requestOnce(target, opts, false);
  }
  recent?.keep(key, reply);
  return reply;
}

function requestOnce(target: HttpTarget, opts: RequestOptions, mayRetry: boolean): Promise<HttpReply> {
  return new Promise<HttpReply>((resolve, reject) => {
    let settled = false;
    let answered = false;
    const headers: Record<string, string> = {
      Accept: "application/json, text/plain, */*",
      ...(opts.fresh ? { Connection: "close" } : {}),
      ...opts.headers,
    };
    if (opts.body) headers["Content-Length"] = String(opts.body.length);
    const params = {
      host: target.host,
      port: target.port,
      method: opts.method,
      path: opts.path,
      headers,
      agent: opts.fresh ? (false as const) : sharedAgent(opts.tls === true),
    };
    const req = opts.tls
      ? // secureContext goes through to tls.connect (node's https typings leave it out)
        https.request({
          ...params,
          rejectUnauthorized: false,
          secureContext: sharedSecureContext(),
        } as https.RequestOptions)
      : http.request(params);
    const where = `${opts.method} ${opts.tls ? "https" : "http"}://${target.host}:${target.port}${opts.path}`;
    const code = (what: HttpFailure): ErrorCode => `WK_${opts.label ?? "ANTMINER"}_${what}`;
    const finish = (err: Error | null, reply?: HttpReply) => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      clearTimeout(deadline);
      if (opts.signal) unhook(opts.signal, onAbort);
      req.on("error", () => {}); // late errors after destroy must not crash the process
      // a complete reply leaves the connection to the agent for the next request; anything else
      // (a deadline, an abort, a reply cut short) may leave it mid-message: it goes
      if (err || opts.fresh) req.destroy();
      if (err) reject(err);
      else resolve(reply!);
    };
    const onAbort = () => finish(new DriverError(code("ABORTED"), `${where}: aborted`, false));
    // The deadlines run from when the request has its connection: before that it waits its
    // turn behind another request to the same host, itself under a deadline. That wait is
    // bounded too: the whole deadline again.
    const timeOut = (why: string) => () => finish(new DriverError(code("TIMEOUT"), `${where}: ${why}`, true));
    let connectTimer: NodeJS.Timeout | undefined;
    let deadline = setTimeout(
      timeOut(`no connection free within ${opts.timeoutMs} ms (other requests to this host ahead)`),
      opts.timeoutMs,
    );
    if (opts.signal?.aborted) return onAbort();
    if (opts.signal) whenAborted(opts.signal, onAbort);

    req.on("socket", (sock) => {
      if (settled) return;
      clearTimeout(deadline);
      deadline = setTimeout(timeOut(`no reply within ${opts.timeoutMs} ms`), opts.timeoutMs);
      // a kept-alive socket handed over by the agent is connected already
      if (!sock.connecting) return;
      connectTimer = setTimeout(
        timeOut(`connect timed out after ${opts.connectTimeoutMs} ms`),
        opts.connectTimeoutMs,
      );
      sock.once("connect", () => clearTimeout(connectTimer));
    });
    req.on("error", (err: NodeJS.ErrnoException) => {
      const stale =
        mayRetry &&
        req.reusedSocket &&
        !answered &&
        opts.method === "GET" &&
        (err.code === "ECONNRESET" || err.code === "EPIPE");
      finish(stale ? new StaleConnection(where) : classifyHttpError(err, where, code));
    });
    req.on("response", (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY_BYTES) {
          finish(new DriverError(code("BAD_REPLY"), `${where}: reply larger than 1 MiB`, false));
          return;
        }
        chunks.push(c);
      });
      res.on("error", (err: NodeJS.ErrnoException) => finish(classifyHttpError(err, where, code)));
      res.on("end", () => {
        const authenticate: string[] = [];
        const headers: Record<string, string> = {};
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
          const name = res.rawHeaders[i]!.toLowerCase();
          const value = res.rawHeaders[i + 1]!;
          headers[name] = value;
          if (name === "www-authenticate") authenticate.push(value);
        }
        finish(null, {
          status: res.statusCode ?? 0,
          authenticate,
          headers,
          body: Buffer.concat(chunks, size),
        });
      });
    });
    req.end(opts.body);
  });
}

function classifyHttpError(
  err: NodeJS.ErrnoException,
  where: string,
  code: (what: HttpFailure) => ErrorCode,
): DriverError {
  switch (err.code) {
    case "ECONNREFUSED":
      return new DriverError(code("REFUSED"), `${where}: connection refused`, true, { cause: err });
    case "ECONNRESET":
    case "EPIPE":
      return new DriverError(code("RESET"), `${where}: connection reset`, true, { cause: err });
    case "EPROTO":
      // a TLS handshake with a plain-HTTP server (or the other way round)
      return new DriverError(
        code("TLS"),
        `${where}: TLS handshake failed (${err.message.split("\n")[0]})`,
        true,
        {
          cause: err,
        },
      );
    case "EHOSTUNREACH":
    case "ENETUNREACH":
    case "ETIMEDOUT":
      return new DriverError(code("UNREACHABLE"), `${where}: ${err.code}`, true, { cause: err });
    default:
      if (err.code?.startsWith("ERR_SSL_") || err.code?.startsWith("ERR_TLS_"))
        return new DriverError(code("TLS"), `${where}: TLS failed: ${err.code}`, true, { cause: err });
      return new DriverError(code("IO"), `${where}: ${err.code ?? err.message}`, true, { cause: err });
  }
}

/**
 * A request behind Digest auth: sent once without credentials; a 401 is answered
 * once with credentials for the strongest challenge offered. A 401 to that means
 * the credentials are wrong (WK_ANTMINER_AUTH, not retryable).
 */
export async function digestRequest(
  target: HttpTarget,
  creds: DigestCredentials,
  opts: RequestOptions,
): Promise<HttpReply> {
  const first = await httpRequest(target, opts);
  if (first.status !== 401) return first;
  const ch = digestChallenges(first.authenticate)[0];
  if (!ch) {
    throw new DriverError(
      "WK_ANTMINER_AUTH",
      `${opts.path}: 401 without a Digest challenge we can answer (${first.authenticate.join(" | ") || "none"})`,
      false,
    );
  }
  const second = await httpRequest(target, {
    ...opts,
    headers: {
      ...opts.headers,
      Authorization: digestAuthorization(ch, creds, { method: opts.method, uri: opts.path }),
    },
  });
  if (second.status === 401) {
    throw new DriverError(
      "WK_ANTMINER_AUTH",
      `web login refused for user "${creds.username}" (realm "${ch.realm}"): wrong username or password`,
      false,
    );
  }
  return second;
}

const TRANSPORT_FAILURES = new Set(["TIMEOUT", "REFUSED", "RESET", "UNREACHABLE", "IO", "ABORTED"]);

/** Whether `err` is httpRequest's failure to reach the host (not an answer): the miner reads as unreachable. */
export function isHttpTransportError(err: unknown, label: HttpLabel = "ANTMINER"): err is DriverError {
  if (!(err instanceof DriverError)) return false;
  const prefix = `WK_${label}_`;
  return err.code.startsWith(prefix) && TRANSPORT_FAILURES.has(err.code.slice(prefix.length));
}
