// JSON over HTTP for the REST firmwares (VNish, ePIC, Auradine, Proto; AxeOS reads its
// replies itself): one request under httpRequest's deadline, the body encoded as JSON, the reply
// parsed as JSON. A reply that is not JSON is a DriverError WK_<label>_BAD_REPLY
// naming what came back, so a firmware that changed its API is reported, not guessed at.

import { printable } from "../printable.ts";
import { DriverError } from "../types.ts";
import { type HttpReply, type HttpTarget, httpRequest, type RequestOptions } from "./http-client.ts";

export interface JsonRequestOptions extends Omit<RequestOptions, "body"> {
  /** Sent as the JSON body (Content-Type: application/json). */
  json?: unknown;
  /** Sent as `Authorization: Bearer <token>`. */
  bearer?: string;
}

export interface JsonReply {
  status: number;
  headers: Record<string, string>;
  /** The parsed body; null for an empty body. */
  json: unknown;
  raw: HttpReply;
}

/** Sends one request and parses the reply as JSON (whatever the status: callers judge the status). */
export async function jsonRequest(target: HttpTarget, opts: JsonRequestOptions): Promise<JsonReply> {
  const headers: Record<string, string> = { ...opts.headers };
  let body: Buffer | undefined;
  if (opts.json !== undefined) {
    body = Buffer.from(JSON.stringify(opts.json));
    headers["Content-Type"] = "application/json";
  }
  if (opts.bearer !== undefined) headers.Authorization = `Bearer ${opts.bearer}`;
  const raw = await httpRequest(target, { ...opts, headers, body });
  const text = raw.body.toString("utf8").trim();
  let json: unknown = null;
  if (text !== "") {
    try {
      json = JSON.parse(text);
    } catch {
      throw new DriverError(
        `WK_${opts.label ?? "ANTMINER"}_BAD_REPLY`,
        `${opts.method} ${opts.path}: HTTP ${raw.status} reply is not JSON: ${printable(text.slice(0, 120))}`,
        false,
      );
    }
  }
  return { status: raw.status, headers: raw.headers, json, raw };
}
