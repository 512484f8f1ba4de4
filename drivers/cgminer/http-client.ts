// One HTTP/1.1 request per connection under a hard deadline (the socket is
// destroyed when it passes), and the Digest-auth round trip on top: first
// without credentials, once more with them after a 401.
import http from "node:http";
import { DriverError } from "../types.ts";
import { type DigestCredentials, digestAuthorization, digestChallenges } from "./digest-auth.ts";

const MAX_BODY_BYTES = 1024 * 1024;

export interface HttpTarget {
  host: string;
  port: number;
}

export interface HttpReply {
  status: number;
  /** Every WWW-Authenticate header, in order. */
  authenticate: string[];
  body: Buffer;
}

interface RequestOptions {
  method: "GET" | "POST";
  path: string;
  body?: Buffer;
  headers?: Record<string, string>;
  connectTimeoutMs: number;
  /** Deadline for the whole exchange, connect included. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** One HTTP/1.1 request on its own connection. The deadline destroys the socket. */
export function httpRequest(target: HttpTarget, opts: RequestOptions): Promise<HttpReply> {
  return new Promise<HttpReply>((resolve, reject) => {
    let settled = false;
    let connected = false;
    const headers: Record<string, string> = {
      Accept: "application/json, text/plain, */*",
      Connection: "close",
      ...opts.headers,
    };
    if (opts.body) headers["Content-Length"] = String(opts.body.length);
    const req = http.request({
      host: target.host,
      port: target.port,
      method: opts.method,
      path: opts.path,
      headers,
      agent: false,
    });
    const where = `${opts.method} http://${target.host}:${target.port}${opts.path}`;
    const finish = (err: DriverError | null, reply?: HttpReply) => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      clearTimeout(deadline);
      opts.signal?.removeEventListener("abort", onAbort);
      req.on("error", () => {}); // late errors after destroy must not crash the process
      req.destroy();
      if (err) reject(err);
      else resolve(reply!);
    };
    const onAbort = () => finish(new DriverError("WK_ANTMINER_ABORTED", `${where}: aborted`, false));
    const connectTimer = setTimeout(() => {
      if (!connected)
        finish(
          new DriverError(
            "WK_ANTMINER_TIMEOUT",
            `${where}: connect timed out after ${opts.connectTimeoutMs} ms`,
            true,
          ),
        );
    }, opts.connectTimeoutMs);
    const deadline = setTimeout(() => {
      finish(new DriverError("WK_ANTMINER_TIMEOUT", `${where}: no reply within ${opts.timeoutMs} ms`, true));
    }, opts.timeoutMs);
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener("abort", onAbort, { once: true });

    req.on("socket", (sock) => {
      sock.once("connect", () => {
        connected = true;
      });
    });
    req.on("error", (err: NodeJS.ErrnoException) => finish(classifyHttpError(err, where)));
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY_BYTES) {
          finish(new DriverError("WK_ANTMINER_BAD_REPLY", `${where}: reply larger than 1 MiB`, false));
          return;
        }
        chunks.push(c);
      });
      res.on("error", (err: NodeJS.ErrnoException) => finish(classifyHttpError(err, where)));
      res.on("end", () => {
        const authenticate: string[] = [];
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
          if (res.rawHeaders[i]!.toLowerCase() === "www-authenticate")
            authenticate.push(res.rawHeaders[i + 1]!);
        }
        finish(null, { status: res.statusCode ?? 0, authenticate, body: Buffer.concat(chunks, size) });
      });
    });
    req.end(opts.body);
  });
}

function classifyHttpError(err: NodeJS.ErrnoException, where: string): DriverError {
  switch (err.code) {
    case "ECONNREFUSED":
      return new DriverError("WK_ANTMINER_REFUSED", `${where}: connection refused`, true, { cause: err });
    case "ECONNRESET":
    case "EPIPE":
      return new DriverError("WK_ANTMINER_RESET", `${where}: connection reset`, true, { cause: err });
    case "EHOSTUNREACH":
    case "ENETUNREACH":
    case "ETIMEDOUT":
      return new DriverError("WK_ANTMINER_UNREACHABLE", `${where}: ${err.code}`, true, { cause: err });
    default:
      return new DriverError("WK_ANTMINER_IO", `${where}: ${err.code ?? err.message}`, true, { cause: err });
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
    headers: { ...opts.headers, Authorization: digestAuthorization(ch, creds, opts.method, opts.path) },
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
