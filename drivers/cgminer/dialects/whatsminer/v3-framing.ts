// Whatsminer API v3 framing (TCP 4433): every message, both ways, is a 4-byte
// little-endian length followed by that many bytes of JSON. A zero length is a
// heartbeat. The client here opens one connection per request, sends one frame
// and reads one frame back, with a connect and a read deadline.
import { DriverError } from "../../../types.ts";
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_READ_TIMEOUT_MS, type ExchangeOptions } from "../../framing.ts";
import { type Json, parseReplyJson } from "../../repair.ts";
import { timedExchange } from "../../timed-socket.ts";

export const V3_PORT = 4433;
/** Frames larger than this are refused (a runaway peer or a wrong protocol). */
const V3_MAX_FRAME = 1024 * 1024;

export function encodeFrame(body: string | Buffer): Buffer {
  const payload = typeof body === "string" ? Buffer.from(body, "utf8") : body;
  const head = Buffer.alloc(4);
  head.writeUInt32LE(payload.length, 0);
  return Buffer.concat([head, payload]);
}

/** Splits a byte stream into frames; heartbeats (length 0) are dropped. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly maxFrame = V3_MAX_FRAME) {}

  /** Feeds bytes; returns the frames completed by them. Throws on an oversized length. */
  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32LE(0);
      if (len > this.maxFrame) throw new Error(`frame of ${len} bytes exceeds ${this.maxFrame}`);
      if (this.buf.length < 4 + len) break;
      if (len > 0) out.push(this.buf.subarray(4, 4 + len));
      this.buf = this.buf.subarray(4 + len);
    }
    return out;
  }

  get pending(): number {
    return this.buf.length;
  }
}

/** Sends one v3 request object and resolves with the parsed reply. */
export function v3Exchange(
  { host, port }: { host: string; port: number },
  request: Record<string, Json>,
  opts: ExchangeOptions = {},
): Promise<Json> {
  const decoder = new FrameDecoder(Math.min(V3_MAX_FRAME, opts.maxReplyBytes ?? V3_MAX_FRAME));
  return timedExchange<Json>(
    {
      host,
      port,
      request: encodeFrame(JSON.stringify(request)),
      connectTimeoutMs: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      readTimeoutMs: opts.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS,
      signal: opts.signal,
      replyName: "v3 reply",
      via: "API v3",
    },
    {
      onData(chunk, finish) {
        let frames: Buffer[];
        try {
          frames = decoder.push(chunk);
        } catch (err) {
          return finish(new DriverError("WK_CGMINER_INVALID_REPLY", (err as Error).message, false));
        }
        const first = frames[0];
        if (!first) return;
        try {
          finish(null, parseReplyJson(first.toString("utf8")).value);
        } catch (err) {
          finish(
            err instanceof DriverError
              ? err
              : new DriverError("WK_CGMINER_INVALID_REPLY", "unparseable v3 reply", false),
          );
        }
      },
      onEnd(finish) {
        finish(
          new DriverError(
            "WK_CGMINER_EMPTY_REPLY",
            decoder.pending > 0 ? "connection closed inside a v3 frame" : "connection closed without a reply",
            true,
          ),
        );
      },
    },
  );
}
