// Writing responses: JSON (errors too, always with a reason), gzip for larger
// bodies when the client accepts it, and reading a bounded JSON request body.
import type { IncomingMessage, ServerResponse } from "node:http";
import { gzipSync } from "node:zlib";
import type { z } from "zod";

/** Bodies at least this large are worth gzipping (the 5,000-miner device list is). */
const GZIP_MIN_BYTES = 2048;
const GZIP_CHUNK_BYTES = 256 * 1024;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

type Headers = Record<string, string | number>;

/** A body as sent: its bytes, its content-type and any headers beyond those two. */
export interface TypedBody {
  body: Buffer | string;
  type: string;
  headers?: Headers;
}

export function sendBody(res: ServerResponse, status: number, { body, type, headers = {} }: TypedBody): void {
  let data = typeof body === "string" ? Buffer.from(body) : body;
  const out: Headers = { "content-type": type, ...headers };
  const accepts = /\bgzip\b/.test(String(res.req.headers["accept-encoding"] ?? ""));
  if (accepts && data.length >= GZIP_MIN_BYTES && !out["content-encoding"]) {
    // the output in chunks of 256 KiB (one for a 5,000-miner scrape: 531 KB gzip to 41), not
    // 16 KiB: a chunk that large is mapped on its own, only its written pages resident, and
    // returned when freed, where small ones stay in malloc's heap between later allocations
    data = gzipSync(data, { level: 4, chunkSize: GZIP_CHUNK_BYTES });
    out["content-encoding"] = "gzip";
    out.vary = "accept-encoding";
  }
  out["content-length"] = data.length;
  res.writeHead(status, out);
  res.end(res.req.method === "HEAD" ? undefined : data);
}

/**
 * A body given in pieces (the 5,000-miner `/metrics`, half a megabyte of UTF-8 in buffers
 * of 16 KiB), joined into one buffer of its exact size and sent as sendBody sends. Joined
 * as one string first it was a V8 large object (two, where any character was outside
 * Latin-1) on top of the buffer: megabytes of RSS at every scrape. The buffer is outside
 * V8's heap and, being large, is mapped on its own and handed back to the system as soon
 * as it is freed.
 */
export function sendPieces(
  res: ServerResponse,
  status: number,
  { pieces, type, headers = {} }: { pieces: readonly Buffer[]; type: string; headers?: Headers },
): void {
  sendBody(res, status, { body: Buffer.concat(pieces), type, headers });
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  { headers = {} }: { headers?: Headers } = {},
): void {
  sendBody(res, status, {
    body: JSON.stringify(body),
    type: "application/json; charset=utf-8",
    headers: { "cache-control": "no-store", ...headers },
  });
}

export function sendError(
  res: ServerResponse,
  status: number,
  error: string,
  opts: { headers?: Headers } = {},
): void {
  sendJson(res, status, { error }, opts);
}

/** The request body parsed as JSON; refuses more than `maxBytes`, a wrong type, or bad JSON. */
/** Reads the request's JSON body (size-capped) and checks it against its route's schema (routes.ts). */
export type BodyReader<T> = () => Promise<{ raw: unknown; parsed: z.ZodSafeParseResult<T> }>;

export async function readJson(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const type = String(req.headers["content-type"] ?? "");
  if (!/^application\/json\b/i.test(type)) throw new HttpError(415, "expected content-type application/json");
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > maxBytes) {
    throw new HttpError(413, `body over ${maxBytes} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new HttpError(413, `body over ${maxBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new HttpError(400, "body is not valid JSON");
  }
}
