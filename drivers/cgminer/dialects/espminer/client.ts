// The HTTP requests of the ESP-Miner / AxeOS dialect: the info read and the
// POST writes (pause, resume, restart), each on its own connection under the
// endpoint's deadlines. AxeOS has no login; it answers 401 "Unauthorized" to
// clients outside the private ranges (10/8, 172.16/12, 192.168/16) unless the
// unit is in its setup access-point mode, which is said plainly here.
// Error codes carry the ESPMINER label (WK_ESPMINER_TIMEOUT, _REFUSED…).

import { printable } from "../../../printable.ts";
import { DriverError } from "../../../types.ts";
import type { DialectContext } from "../../driver.ts";
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_READ_TIMEOUT_MS } from "../../framing.ts";
import { type HttpReply, httpRequest, isHttpTransportError, type RequestOptions } from "../../http-client.ts";
import { AXEOS_WRITES } from "./facts.ts";
import { type AxeosInfo, firmwareChanged, INFO_PATH, parseInfo } from "./info.ts";

export const LABEL = "ESPMINER";
const DEFAULT_WEB_PORT = 80;

const target = (ctx: DialectContext) => ({
  host: ctx.endpoint.host,
  port: ctx.endpoint.webPort ?? DEFAULT_WEB_PORT,
});

const deadlines = (
  ctx: DialectContext,
): Pick<RequestOptions, "connectTimeoutMs" | "timeoutMs" | "signal" | "label" | "recent"> => ({
  connectTimeoutMs: ctx.exchange.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
  timeoutMs: ctx.exchange.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS,
  signal: ctx.signal,
  label: LABEL,
  recent: ctx.recent,
});

const NOT_PRIVATE =
  "AxeOS answers 401: it serves its API only to clients on private networks (10/8, 172.16/12, 192.168/16) unless the unit is in access-point mode";

/** An HTTP status the caller did not want, as a DriverError (5xx retryable). */
function statusError(method: string, path: string, reply: HttpReply): DriverError {
  if (reply.status === 401)
    return new DriverError("WK_ESPMINER_FORBIDDEN", `${method} ${path}: ${NOT_PRIVATE}`, false);
  const body = printable(reply.body.toString("utf8").trim().slice(0, 80));
  return new DriverError(
    "WK_ESPMINER_HTTP",
    `${method} ${path}: HTTP ${reply.status}${body ? ` ${body}` : ""}`,
    reply.status >= 500,
  );
}

/** GET /api/system/info, validated (WK_FIRMWARE_CHANGED when its shape is not a known one). */
export async function getInfo(ctx: DialectContext): Promise<AxeosInfo> {
  // the status first: a 401 or 404 has a text body, and says more than "not JSON"
  const reply = await httpRequest(target(ctx), { method: "GET", path: INFO_PATH, ...deadlines(ctx) });
  if (reply.status !== 200) throw statusError("GET", INFO_PATH, reply);
  const text = reply.body.toString("utf8").trim();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new DriverError(
      "WK_ESPMINER_BAD_REPLY",
      `GET ${INFO_PATH}: HTTP 200 reply is not JSON (not AxeOS?): ${printable(text.slice(0, 80))}`,
      false,
    );
  }
  return parseInfo(json);
}

/** GET /api/system/info without validation: the probe's look (null body when it is not JSON). */
export async function getInfoRaw(ctx: DialectContext): Promise<{ status: number; json: unknown }> {
  const raw = await httpRequest(target(ctx), { method: "GET", path: INFO_PATH, ...deadlines(ctx) });
  let json: unknown = null;
  try {
    json = JSON.parse(raw.body.toString("utf8"));
  } catch {
    // not JSON: not AxeOS's info
  }
  return { status: raw.status, json };
}

function writeFor(path: string) {
  const w = AXEOS_WRITES.find((x) => x.path === path);
  if (!w) throw new Error(`no AxeOS write at ${path}`);
  return w;
}

/**
 * POST pause or resume: v2.14+ answers 200 {"message": "..."}. A firmware
 * without the route answers 404 {"error":"unknown route"} (v2.13) or redirects
 * to its captive portal (302, older): the write is not there.
 */
export async function postCommand(
  ctx: DialectContext,
  path: "/api/system/pause" | "/api/system/resume",
  version: string | null,
) {
  const w = writeFor(path);
  const since = w.since
    ? ` (ESP-Miner v${w.since.major}.${w.since.minor}.${w.since.patch} or later has)`
    : "";
  // an explicit empty body: ESP-IDF's server does not take a chunked request
  const reply = await httpRequest(target(ctx), {
    method: "POST",
    path,
    body: Buffer.alloc(0),
    ...deadlines(ctx),
  });
  if (reply.status === 404 || reply.status === 405 || reply.status === 302) {
    throw new DriverError(
      "WK_ESPMINER_UNSUPPORTED",
      `POST ${path}: HTTP ${reply.status}: this AxeOS${version ? ` ${version}` : ""} has no ${w.capability === "sleep" ? "pause" : "resume"}${since}`,
      false,
    );
  }
  if (reply.status !== 200) throw statusError("POST", path, reply);
  let json: unknown = null;
  try {
    json = JSON.parse(reply.body.toString("utf8"));
  } catch {
    // judged below
  }
  const message = (json as { message?: unknown } | null)?.message;
  if (typeof json !== "object" || json === null || typeof message !== "string") {
    throw firmwareChanged(
      version,
      `POST ${path} answered 200 with ${printable(reply.body.toString("utf8").slice(0, 60)) || "an empty body"}, not {"message": …}`,
    );
  }
}

/**
 * POST /api/system/restart. v2.13+ answers JSON {"message"}, v2.1–v2.12 text
 * "System will restart shortly.", v2.0 restarts without answering (the
 * connection drops): all three are the command taken; the uptime read back
 * decides whether it restarted.
 */
export async function postRestart(ctx: DialectContext, version: string | null): Promise<void> {
  const path = "/api/system/restart";
  let reply: HttpReply;
  try {
    reply = await httpRequest(target(ctx), {
      method: "POST",
      path,
      body: Buffer.alloc(0),
      ...deadlines(ctx),
    });
  } catch (err) {
    if (isHttpTransportError(err, LABEL) && err.code === "WK_ESPMINER_RESET") return;
    throw err;
  }
  if (reply.status !== 200) throw statusError("POST", path, reply);
  const text = reply.body.toString("utf8").trim();
  if (text === "" || /^System will restart/i.test(text)) return;
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    // judged below
  }
  if (typeof (json as { message?: unknown } | null)?.message === "string") return;
  throw firmwareChanged(
    version,
    `POST ${path} answered 200 with ${printable(text.slice(0, 60))}, not a restart notice`,
  );
}

const IDENTIFY_PATH = "/api/system/identify";
/** How long AxeOS shows its identify message ("Hi!" on the screen): fixed in the firmware. */
export const IDENTIFY_S = 30;

/**
 * POST /api/system/identify (v2.12+): a toggle. The unit says "Hi!" on its screen for 30 s, or
 * stops saying it when it was; the reply states which (v2.13+ JSON {"message"}, v2.12 the same
 * words as text/plain): 'The device says "Hi!" for 30 seconds.' / 'The device no longer says
 * "Hi!".' Returns whether it is identifying now, as the reply says.
 */
export async function postIdentify(ctx: DialectContext, version: string | null): Promise<boolean> {
  const reply = await httpRequest(target(ctx), {
    method: "POST",
    path: IDENTIFY_PATH,
    body: Buffer.alloc(0),
    ...deadlines(ctx),
  });
  if (reply.status === 404 || reply.status === 405 || reply.status === 302) {
    throw new DriverError(
      "WK_ESPMINER_UNSUPPORTED",
      `POST ${IDENTIFY_PATH}: HTTP ${reply.status}: this AxeOS${version ? ` ${version}` : ""} has no identify (ESP-Miner v2.12.0 or later has)`,
      false,
    );
  }
  if (reply.status !== 200) throw statusError("POST", IDENTIFY_PATH, reply);
  const text = reply.body.toString("utf8").trim();
  let message = text;
  try {
    const m = (JSON.parse(text) as { message?: unknown } | null)?.message;
    if (typeof m === "string") message = m;
  } catch {
    // v2.12: the words as text/plain
  }
  if (/no longer says/i.test(message)) return false;
  if (/\bsays\b/i.test(message)) return true;
  throw firmwareChanged(
    version,
    `POST ${IDENTIFY_PATH} answered 200 with ${printable(text.slice(0, 60)) || "an empty body"}, not the identify notice`,
  );
}
