// CGMiner API framing: one request per TCP connection, sent in a single write
// (cgminer reads it with one recv()), reply read until the NUL byte or EOF,
// whichever comes first. Every call has a connect and a read deadline.
import { Socket } from "node:net";
import { DriverError } from "../types.ts";

export interface ExchangeOptions {
  connectTimeoutMs?: number;
  readTimeoutMs?: number;
  /** Replies larger than this are cut off and reported as invalid (a runaway peer). */
  maxReplyBytes?: number;
  signal?: AbortSignal;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 3000;
export const DEFAULT_READ_TIMEOUT_MS = 5000;
const DEFAULT_MAX_REPLY_BYTES = 4 * 1024 * 1024;

/** Builds the request bytes: JSON `{"command","parameter"}`, the form every dialect accepts. */
export function encodeRequest(command: string, parameter?: string): Buffer {
  const body: Record<string, string> = { command };
  if (parameter !== undefined && parameter !== "") body.parameter = parameter;
  return Buffer.from(JSON.stringify(body), "utf8");
}

/**
 * Sends `request` to host:port and resolves with the reply bytes (without the
 * trailing NUL). Rejects with a DriverError whose code classifies the failure.
 */
export function exchange(
  { host, port }: { host: string; port: number },
  request: Buffer,
  opts: ExchangeOptions = {},
): Promise<Buffer> {
  const connectTimeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const readTimeoutMs = opts.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
  const maxReplyBytes = opts.maxReplyBytes ?? DEFAULT_MAX_REPLY_BYTES;

  return new Promise<Buffer>((resolve, reject) => {
    const socket = new Socket();
    const chunks: Buffer[] = [];
    let size = 0;
    /** Where the NUL that ends the reply is, once seen (-1: not yet). */
    let nulAt = -1;
    let settled = false;
    let connected = false;

    const finish = (err: DriverError | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      socket.removeAllListeners();
      socket.on("error", () => {}); // late errors after destroy must not crash the process
      socket.destroy();
      if (err) reject(err);
      else {
        // most replies arrive in one chunk: no copy then
        const reply = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
        resolve(nulAt >= 0 ? reply.subarray(0, nulAt) : reply);
      }
    };
    const onAbort = () => finish(new DriverError("WK_CGMINER_ABORTED", "request aborted", false));

    let timer = setTimeout(() => {
      finish(
        new DriverError(
          "WK_CGMINER_TIMEOUT",
          connected
            ? `no complete reply within ${readTimeoutMs} ms`
            : `connect timed out after ${connectTimeoutMs} ms`,
          true,
        ),
      );
    }, connectTimeoutMs);

    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener("abort", onAbort, { once: true });

    socket.setNoDelay(true);
    socket.on("connect", () => {
      connected = true;
      clearTimeout(timer);
      timer = setTimeout(() => {
        finish(new DriverError("WK_CGMINER_TIMEOUT", `no complete reply within ${readTimeoutMs} ms`, true));
      }, readTimeoutMs);
      socket.write(request);
    });
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      const nul = chunk.indexOf(0);
      if (nul >= 0) {
        nulAt = size + nul;
        size += chunk.length;
        return finish(null);
      }
      size += chunk.length;
      if (size > maxReplyBytes) {
        finish(
          new DriverError("WK_CGMINER_INVALID_REPLY", `reply larger than ${maxReplyBytes} bytes`, false),
        );
      }
    });
    socket.on("end", () => {
      if (size === 0) {
        // what cgminer does to a host outside its --api-allow list
        finish(
          new DriverError(
            "WK_CGMINER_EMPTY_REPLY",
            "answers but closes at once: is the gateway in the miner's API allow-list (--api-allow)?",
            true,
          ),
        );
      } else finish(null);
    });
    socket.on("error", (err: NodeJS.ErrnoException) => finish(classifySocketError(err)));
    socket.connect({ host, port });
  });
}

/** Maps a socket error to a classified DriverError; `via` names the channel in the message (e.g. "API v3"). */
export function classifySocketError(err: NodeJS.ErrnoException, via?: string): DriverError {
  const on = via ? ` (${via})` : "";
  switch (err.code) {
    case "ECONNREFUSED":
      return new DriverError("WK_CGMINER_REFUSED", `connection refused${on}`, true, { cause: err });
    case "ECONNRESET":
    case "EPIPE":
      return new DriverError("WK_CGMINER_RESET", `connection reset by peer${on}`, true, { cause: err });
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return new DriverError("WK_CGMINER_UNREACHABLE", `host unreachable (${err.code})`, true, {
        cause: err,
      });
    case "ETIMEDOUT":
      return new DriverError("WK_CGMINER_TIMEOUT", `connect timed out${on}`, true, { cause: err });
    default:
      return new DriverError("WK_CGMINER_IO", `${err.code ?? "socket error"}: ${err.message}`, true, {
        cause: err,
      });
  }
}
