// HTTP to one ePIC UMC unit on its API port (4028): GETs for what it reports,
// POSTs for commands with the password in the JSON body ({"param": …,
// "password": …}), each one request under a deadline (drivers/cgminer/http-json.ts).
//
// Every POST answers {"result": bool, "error": ApiError|null}. `BadPassword`
// (a string on UMC 1.30, {"BadPassword": "Authentication failed"} on 1.22)
// is WK_EPIC_AUTH, not retryable; `LastCmdStillPending` is worth another try;
// any other error is a refusal. A 404 on a path the dialect relies on, a body
// the firmware rejects (400/422), or a reply that is not JSON means the API is
// not the one this dialect knows: WK_FIRMWARE_CHANGED.

import { DriverError } from "../../../types.ts";
import type { DialectContext } from "../../driver.ts";
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_READ_TIMEOUT_MS } from "../../framing.ts";
import { jsonRequest } from "../../http-json.ts";
import {
  describeEpicError,
  describeFirmware,
  type EpicError,
  errorName,
  firmwareChanged,
  parseEpic,
  ResultSchema,
} from "./schema.ts";

/** Error-code label: WK_EPIC_TIMEOUT, WK_EPIC_REFUSED… */
export const EPIC_LABEL = "EPIC";
/** ePIC's factory password (documented in its API examples); never assumed, only named in messages. */
const EPIC_FACTORY_PASSWORD = "letmein";

/** What was last learnt of a unit's firmware (its `Software`), to name it in a WK_FIRMWARE_CHANGED. */
const lastSoftware = new Map<string, string>();

export const unitKey = (ctx: DialectContext) => `${ctx.endpoint.host}:${ctx.endpoint.port}`;

export function rememberSoftware(ctx: DialectContext, software: string): void {
  lastSoftware.set(unitKey(ctx), software);
}

export function knownSoftware(ctx: DialectContext): string | null {
  return lastSoftware.get(unitKey(ctx)) ?? null;
}

export function deadlines(ctx: DialectContext) {
  const connectTimeoutMs = ctx.exchange.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  // one request: connect, then wait for the answer as long as a 4028 exchange would
  return {
    connectTimeoutMs,
    timeoutMs: connectTimeoutMs + (ctx.exchange.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS),
    recent: ctx.recent,
  };
}

const firmwareOf = (ctx: DialectContext) => describeFirmware(knownSoftware(ctx));

function snippetOf(body: Buffer): string {
  const text = body.toString("utf8").trim().replace(/\s+/g, " ");
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

/**
 * GETs a path and returns its JSON. `optional`: a path older firmware may lack
 * (404 or a reply that is not JSON → null). Throws WK_FIRMWARE_CHANGED when a
 * path the dialect relies on is gone or not JSON, WK_EPIC_NO_DATA when the unit
 * answers {"result": false} (it cannot give the data now).
 */
export async function epicGet(
  ctx: DialectContext,
  path: string,
  opts: { optional?: boolean } = {},
): Promise<unknown> {
  let reply: Awaited<ReturnType<typeof jsonRequest>>;
  try {
    reply = await jsonRequest(ctx.endpoint, {
      method: "GET",
      path,
      ...deadlines(ctx),
      signal: ctx.signal,
      label: EPIC_LABEL,
    });
  } catch (err) {
    if (err instanceof DriverError && err.code === `WK_${EPIC_LABEL}_BAD_REPLY`) {
      if (opts.optional) return null;
      throw firmwareChanged(firmwareOf(ctx), `GET ${path}`, err.message);
    }
    throw err;
  }
  if (reply.status === 404 && opts.optional) return null;
  if (reply.status === 404) throw firmwareChanged(firmwareOf(ctx), `GET ${path}`, "the unit answers 404");
  if (reply.status !== 200) {
    throw new DriverError(
      `WK_${EPIC_LABEL}_HTTP`,
      `GET ${path}: HTTP ${reply.status} ${snippetOf(reply.raw.body)}`,
      reply.status >= 500,
    );
  }
  const json = reply.json;
  if (json !== null && typeof json === "object" && !Array.isArray(json) && "result" in json) {
    // pyasic: a GET answers {"result": false, "error": …} when the miner cannot return the data
    const r = ResultSchema.safeParse(json);
    if (r.success && !r.data.result) {
      const why = r.data.error != null ? describeEpicError(r.data.error) : "no reason given";
      throw new DriverError(
        `WK_${EPIC_LABEL}_NO_DATA`,
        `GET ${path}: the unit has no data now (${why})`,
        true,
      );
    }
  }
  return json;
}

/** The DriverError for a command the unit answered {"result": false, "error": …}. */
export function commandError(what: string, error: EpicError | null | undefined): DriverError {
  if (error == null)
    return new DriverError(`WK_${EPIC_LABEL}_REFUSED`, `${what} refused (no reason given)`, false);
  const name = errorName(error);
  if (name === "BadPassword") return authError(what, describeEpicError(error));
  if (name === "LastCmdStillPending") {
    return new DriverError(`WK_${EPIC_LABEL}_BUSY`, `${what}: ${describeEpicError(error)}`, true);
  }
  return new DriverError(`WK_${EPIC_LABEL}_REFUSED`, `${what} refused: ${describeEpicError(error)}`, false);
}

function authError(what: string, detail: string): DriverError {
  return new DriverError(
    `WK_${EPIC_LABEL}_AUTH`,
    `${what}: the unit refuses the configured password (${detail}); set miners[].credentials.password to the unit's web password (ePIC's factory default is "${EPIC_FACTORY_PASSWORD}")`,
    false,
  );
}

/**
 * POSTs a command with the configured password in the body. Resolves when the
 * unit answers {"result": true}; throws a DriverError otherwise.
 */
export async function epicPost(ctx: DialectContext, path: string, param: unknown): Promise<void> {
  const password = ctx.endpoint.credentials?.password;
  if (typeof password !== "string") {
    throw new DriverError(
      `WK_${EPIC_LABEL}_NO_CREDENTIALS`,
      `POST ${path} needs the unit's password (miners[].credentials.password)`,
      false,
    );
  }
  const what = `POST ${path}`;
  let reply: Awaited<ReturnType<typeof jsonRequest>>;
  try {
    reply = await jsonRequest(ctx.endpoint, {
      method: "POST",
      path,
      json: { param, password },
      ...deadlines(ctx),
      signal: ctx.signal,
      label: EPIC_LABEL,
    });
  } catch (err) {
    if (err instanceof DriverError && err.code === `WK_${EPIC_LABEL}_BAD_REPLY`) {
      throw firmwareChanged(firmwareOf(ctx), what, err.message);
    }
    throw err;
  }
  if (reply.status === 401 || reply.status === 403) throw authError(what, `HTTP ${reply.status}`);
  if (reply.status === 404 || reply.status === 400 || reply.status === 405 || reply.status === 422) {
    // the documented path and body are not what this firmware takes
    const text = snippetOf(reply.raw.body);
    throw firmwareChanged(firmwareOf(ctx), what, `HTTP ${reply.status}${text ? ` ${text}` : ""}`);
  }
  if (reply.status !== 200) {
    throw new DriverError(
      `WK_${EPIC_LABEL}_HTTP`,
      `${what}: HTTP ${reply.status} ${snippetOf(reply.raw.body)}`,
      reply.status >= 500,
    );
  }
  const result = parseEpic(ResultSchema, reply.json, { what: `${what} reply`, software: knownSoftware(ctx) });
  if (!result.result) throw commandError(what, result.error);
}
