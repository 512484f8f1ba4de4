// Auradine Teraflux (AT/AH/AI series) on FluxOS (docs/research.md §2, Auradine FluxOS).
//
// Reads use both APIs, as the facts leave no choice: the CGMiner-compatible
// API on 4028 (GCMiner) is the only source of hashrate, uptime, pools and
// per-board state, and the web API on 8080 the only source of the sleep mode,
// the measured draw (PSU PowerIn) and the power target. The two are asked at
// once (auradine/read.ts). Writes go to the web API behind its token
// (auradine/web.ts): sleep and wake are `POST /mode {"sleep":"on"|"off"}`, a
// power target `POST /mode {"mode":"custom","tune":"power","power":W}`, a
// reboot `POST /restart`. Locate: `POST /led {"code":3}` (LOCATE_MINER), off with
// code 2 (NORMAL), read back as `GET /led` LED[0].Code (pyasic's auradine backend
// and AuradineLEDCodes, asic-rs's set_fault_light); FluxOS holds the code until
// another is set, so the agent turns it off.
//
// Power range: FluxOS reports the PSU's rated output (PoutMax) and no lower
// bound; a target above PoutMax is refused before it is sent, and a unit that
// reports no PoutMax has setPowerLimit withdrawn at first contact (a target
// could not be checked against its range). Credentials: the configured ones,
// else the factory admin/admin (pyasic's default); a refused login withdraws
// every write and reads faulted with WK_AURADINE_AUTH. A reply shaped otherwise
// than schema.ts expects is WK_FIRMWARE_CHANGED: the reading is faulted with it.
import { DriverError, type MinerCapability, type MinerReading } from "../../../types.ts";
import { failedReading, readingForError } from "../../client.ts";
import type { DialectContext, DialectSpec, Withdrawn } from "../../driver.ts";
import { isHttpTransportError } from "../../http-client.ts";
import type { LocateSpec } from "../../locate.ts";
import { assemble, readApi, readExtras, readWeb, type WebPart } from "./read.ts";
import { expectShape, FIRMWARE_CHANGED, LED_LOCATE, LED_NORMAL, LedReply } from "./schema.ts";
import {
  AURADINE_WEB_PORT,
  fluxRequest,
  forgetToken,
  knownVersion,
  LABEL,
  probeFluxos,
  targetOf,
  unitKey,
} from "./web.ts";

const CAPABILITIES: MinerCapability[] = ["sleep", "wake", "setPowerLimit", "reboot", "locate"];

/** The PSU's rated output last read per unit (host:webPort): the ceiling for a power target. */
const maxTargetW = new Map<string, number | null>();

function remember(ctx: DialectContext, web: WebPart): void {
  maxTargetW.set(unitKey(targetOf(ctx)), web.maxPowerLimitW);
}

/** A failure as the site should see it: transport → unreachable, everything else faulted with its code. */
function readingFor(err: unknown, at: number): MinerReading {
  if (isHttpTransportError(err, LABEL))
    return failedReading(at, "unreachable", `${err.code}: ${err.message}`);
  return readingForError(err, at);
}

async function read(ctx: DialectContext): Promise<MinerReading> {
  try {
    const [api, web, extras] = await Promise.all([readApi(ctx, true), readWeb(ctx), readExtras(ctx)]);
    remember(ctx, web);
    return assemble({ at: ctx.now(), api, web, extras, full: true });
  } catch (err) {
    return readingFor(err, ctx.now());
  }
}

/** For confirming a write: 4028 `summary` (hashrate, uptime) with `/mode` and `/psu`. */
async function confirmRead(ctx: DialectContext): Promise<MinerReading> {
  try {
    const [api, web] = await Promise.all([readApi(ctx, false), readWeb(ctx)]);
    remember(ctx, web);
    return assemble({ at: ctx.now(), api, web, extras: null, full: false });
  } catch (err) {
    return readingFor(err, ctx.now());
  }
}

/** The ceiling for a target: the last PoutMax read, else asked now. */
async function ceilingW(ctx: DialectContext): Promise<number | null> {
  const key = unitKey(targetOf(ctx));
  if (!maxTargetW.has(key)) remember(ctx, await readWeb(ctx));
  return maxTargetW.get(key) ?? null;
}

async function setPowerLimit(ctx: DialectContext, watts: number): Promise<void> {
  const target = Math.round(watts);
  const max = await ceilingW(ctx);
  if (max === null) {
    throw new DriverError(
      `WK_${LABEL}_NO_RANGE`,
      "the unit reports no power range (PSU PoutMax): a target cannot be checked against it",
      false,
    );
  }
  if (target > max) {
    throw new DriverError(
      `WK_${LABEL}_OUT_OF_RANGE`,
      `${target} W is above the unit's maximum of ${Math.round(max)} W (PSU PoutMax)`,
      false,
    );
  }
  await fluxRequest(ctx, {
    method: "POST",
    path: "/mode",
    body: { command: "mode", mode: "custom", tune: "power", power: target },
  });
}

/**
 * First contact: a login and `/mode` + `/psu`, read-only. Credentials refused
 * or a reply shaped otherwise withdraws every write (each rides on both); no
 * PoutMax withdraws setPowerLimit. No answer in time throws (asked again later).
 */
async function confirmCapabilities(ctx: DialectContext, declared: MinerCapability[]): Promise<Withdrawn[]> {
  const port = ctx.endpoint.webPort ?? AURADINE_WEB_PORT;
  let web: WebPart;
  try {
    web = await readWeb(ctx);
  } catch (err) {
    if (!(err instanceof DriverError)) throw err;
    const auth = err.code === `WK_${LABEL}_AUTH`;
    if (!auth && err.code !== FIRMWARE_CHANGED) throw err;
    const reason = auth
      ? `the FluxOS web API (port ${port}) refuses the login: ${err.message}`
      : `the FluxOS web API (port ${port}) answers in a shape the dialect does not know: ${err.code}: ${err.message}`;
    return declared.map((capability) => ({ capability, reason }));
  }
  remember(ctx, web);
  if (web.maxPowerLimitW === null && declared.includes("setPowerLimit")) {
    return [
      {
        capability: "setPowerLimit",
        reason: "the unit reports no power range (GET /psu has no PoutMax): a target cannot be checked",
      },
    ];
  }
  return [];
}

const locate: LocateSpec<DialectContext> = {
  async set(ctx, seconds) {
    const code = seconds > 0 ? LED_LOCATE : LED_NORMAL;
    await fluxRequest(ctx, { method: "POST", path: "/led", body: { command: "led", code } });
    return undefined;
  },
  async read(ctx) {
    const raw = await fluxRequest(ctx, { method: "GET", path: "/led" });
    const version = knownVersion.get(unitKey(targetOf(ctx))) ?? null;
    return expectShape(LedReply, raw, { what: "GET /led", version }).LED[0]!.Code === LED_LOCATE;
  },
  endsAfter: null,
};

export const auradineDialect: DialectSpec = {
  name: "auradine",
  capabilities: () => [...CAPABILITIES],
  read,
  confirmRead,
  confirmCapabilities,
  locate,
  async write(ctx, action, value) {
    switch (action) {
      case "sleep":
        await fluxRequest(ctx, { method: "POST", path: "/mode", body: { command: "mode", sleep: "on" } });
        return;
      case "wake":
        await fluxRequest(ctx, { method: "POST", path: "/mode", body: { command: "mode", sleep: "off" } });
        return;
      case "reboot":
        await fluxRequest(ctx, { method: "POST", path: "/restart", body: { command: "restart" } });
        return;
      case "setPowerLimit":
        if (value === undefined || !(value > 0)) {
          throw new DriverError(`WK_${LABEL}_BAD_VALUE`, "setPowerLimit needs a positive wattage", false);
        }
        await setPowerLimit(ctx, value);
        return;
    }
  },
  async close(ctx) {
    forgetToken(targetOf(ctx));
    maxTargetW.delete(unitKey(targetOf(ctx)));
  },
  detectProbe: {
    port: (endpoint) => endpoint.webPort ?? AURADINE_WEB_PORT,
    probe: probeFluxos,
  },
};
