// CGMiner API framing: one request per TCP connection, sent in a single write
// (cgminer reads it with one recv()), reply read until the NUL byte or EOF,
// whichever comes first. Every call has a connect and a read deadline.
import { DriverError } from "../types.ts";
import { timedExchange } from "./timed-socket.ts";

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
  const maxReplyBytes = opts.maxReplyBytes ?? DEFAULT_MAX_REPLY_BYTES;
  const chunks: Buffer[] = [];
  let size = 0;
  /** Where the NUL that ends the reply is, once seen (-1: not yet). */
  let nulAt = -1;
  const reply = (): Buffer => {
    // most replies arrive in one chunk: no copy then
    const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
    return nulAt >= 0 ? all.subarray(0, nulAt) : all;
  };
  return timedExchange<Buffer>(
    {
      host,
      port,
      request,
      connectTimeoutMs: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      readTimeoutMs: opts.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS,
      signal: opts.signal,
      replyName: "reply",
    },
    {
      onData(chunk, finish) {
        chunks.push(chunk);
        const nul = chunk.indexOf(0);
        if (nul >= 0) {
          nulAt = size + nul;
          size += chunk.length;
          return finish(null, reply());
        }
        size += chunk.length;
        if (size > maxReplyBytes) {
          finish(
            new DriverError("WK_CGMINER_INVALID_REPLY", `reply larger than ${maxReplyBytes} bytes`, false),
          );
        }
      },
      onEnd(finish) {
        if (size > 0) return finish(null, reply());
        // what cgminer does to a host outside its --api-allow list
        finish(
          new DriverError(
            "WK_CGMINER_EMPTY_REPLY",
            "answers but closes at once: is the gateway in the miner's API allow-list (--api-allow)?",
            true,
          ),
        );
      },
    },
  );
}
