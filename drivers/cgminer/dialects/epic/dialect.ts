// ePIC UMC (ePIC BlockChain control boards for Antminers): an HTTP/JSON API on
// the port where other firmware has the CGMiner API (4028); no CGMiner API at
// all (docs/research.md §2, ePIC UMC).
//
// Reads: GET /summary (state, PSU input power, boards, fans, pools, uptime,
// tuner), GET /capabilities (model, tuner algorithms and their target ranges;
// kept 10 min), GET /temps/chip (chip temperatures, an extra older units may
// lack). Writes: POST with {"param": …, "password": …}:
//   sleep  → /miner "Stop"         wake → /miner "Autostart"
//   reboot → /reboot 0 (seconds of delay)
//   setPowerLimit → /perpetualtune/algo {"algo": "Power", "target": W}
//   locate → /identify true | false ("Turn the LED on" in ePIC's OpenAPI 1.22.5 and
//            1.30.0; asic-rs's set_fault_light), read back as /summary
//            Misc."Locate Miner State" (pyasic, asic-rs); on until told
//            (the agent turns it off)
// Writes are declared only with a password configured. At first contact the
// dialect asks /capabilities whether the tuner has the "Power" algorithm
// (setPowerLimit is withdrawn with the reason when not) and, where the firmware
// has POST /authenticate (UMC 1.30), whether the password is right (every write
// is withdrawn with WK_EPIC_AUTH when not).
//
// Every reply is validated (epic/schema.ts); one shaped otherwise reads as
// faulted with WK_FIRMWARE_CHANGED, naming firmware, version and what changed.
import { codedReason } from "../../../errors.ts";
import { DriverError, type MinerCapability, type MinerReading } from "../../../types.ts";
import { failedReading } from "../../client.ts";
import type { DialectContext, DialectSpec, MinerEndpoint, Withdrawn } from "../../driver.ts";
import { isHttpTransportError } from "../../http-client.ts";
import type { LocateSpec } from "../../locate.ts";
import { EPIC_LABEL, epicGet, epicPost, knownSoftware, rememberSoftware, unitKey } from "./client.ts";
import { normalizeEpic, powerRangeOf } from "./normalize.ts";
import { probeEpic } from "./probe.ts";
import {
  CapabilitiesSchema,
  ChipTempsSchema,
  type EpicCapabilities,
  type EpicSummary,
  POWER_ALGORITHM,
  parseEpic,
  SummarySchema,
} from "./schema.ts";

const WRITES: MinerCapability[] = ["sleep", "wake", "setPowerLimit", "reboot", "locate"];

/** /capabilities does not change while the unit runs: asked again after this long (or after an outage). */
const EPIC_CAPABILITIES_TTL_MS = 10 * 60_000;

const capabilitiesCache = new Map<string, { at: number; caps: EpicCapabilities }>();

const hasPassword = (endpoint: MinerEndpoint) => typeof endpoint.credentials?.password === "string";

async function fetchCapabilities(ctx: DialectContext): Promise<EpicCapabilities> {
  const json = await epicGet(ctx, "/capabilities");
  const caps = parseEpic(CapabilitiesSchema, json, {
    what: "GET /capabilities",
    software: knownSoftware(ctx),
  });
  capabilitiesCache.set(unitKey(ctx), { at: ctx.now(), caps });
  return caps;
}

function cachedCapabilities(ctx: DialectContext): EpicCapabilities | null {
  const hit = capabilitiesCache.get(unitKey(ctx));
  return hit && ctx.now() - hit.at < EPIC_CAPABILITIES_TTL_MS ? hit.caps : null;
}

async function readSummary(ctx: DialectContext): Promise<EpicSummary> {
  const summary = parseEpic(SummarySchema, await epicGet(ctx, "/summary"), { what: "GET /summary" });
  rememberSoftware(ctx, summary.Software);
  return summary;
}

/** An extra the reading stands without: a unit that does not answer it in time leaves it null. */
async function extra<T>(fetch: () => Promise<T>): Promise<T | null> {
  try {
    return await fetch();
  } catch (err) {
    if (isHttpTransportError(err, EPIC_LABEL)) return null;
    throw err;
  }
}

async function chipTemps(ctx: DialectContext) {
  const json = await epicGet(ctx, "/temps/chip", { optional: true });
  return json === null
    ? null
    : parseEpic(ChipTempsSchema, json, { what: "GET /temps/chip", software: knownSoftware(ctx) });
}

function readingForError(ctx: DialectContext, err: unknown): MinerReading {
  const at = ctx.now();
  if (isHttpTransportError(err, EPIC_LABEL)) {
    // it may come back with other firmware: ask its capabilities again then
    capabilitiesCache.delete(unitKey(ctx));
    return failedReading(at, "unreachable", `${err.code}: ${err.message}`);
  }
  if (err instanceof DriverError) return failedReading(at, "faulted", `${err.code}: ${err.message}`);
  return failedReading(
    at,
    "faulted",
    codedReason("WK_EPIC_INTERNAL", `${(err as Error)?.message ?? String(err)}`),
  );
}

async function read(ctx: DialectContext): Promise<MinerReading> {
  try {
    // the summary first: it names the firmware a later WK_FIRMWARE_CHANGED message cites
    const summary = await readSummary(ctx);
    const [capabilities, chips] = await Promise.all([
      cachedCapabilities(ctx) ?? extra(() => fetchCapabilities(ctx)),
      extra(() => chipTemps(ctx)),
    ]);
    return normalizeEpic({ at: ctx.now(), summary, capabilities, chipTemps: chips });
  } catch (err) {
    return readingForError(ctx, err);
  }
}

/** For confirming a write: the summary alone (state, power, tuner target, uptime). */
async function confirmRead(ctx: DialectContext): Promise<MinerReading> {
  try {
    const summary = await readSummary(ctx);
    return normalizeEpic({ at: ctx.now(), summary, capabilities: cachedCapabilities(ctx), chipTemps: null });
  } catch (err) {
    return readingForError(ctx, err);
  }
}

/**
 * POST /authenticate (UMC 1.30) checks the password without acting. Firmware
 * without it (1.22) answers 404: unknown, and the first write tells.
 */
async function passwordRefusal(ctx: DialectContext): Promise<string | null> {
  try {
    await epicPost(ctx, "/authenticate", null);
    return null;
  } catch (err) {
    if (err instanceof DriverError && err.code === `WK_${EPIC_LABEL}_AUTH`)
      return `${err.code}: ${err.message}`;
    if (err instanceof DriverError && err.code === "WK_FIRMWARE_CHANGED") return null;
    throw err;
  }
}

async function confirmCapabilities(ctx: DialectContext, declared: MinerCapability[]): Promise<Withdrawn[]> {
  if (declared.length === 0) return [];
  const caps = await fetchCapabilities(ctx);
  const refused = await passwordRefusal(ctx);
  if (refused) return declared.map((capability) => ({ capability, reason: refused }));
  if (declared.includes("setPowerLimit") && !powerRangeOf(caps)) {
    const offered = caps.PerpetualTune.map((o) => o.algorithm).join(", ") || "none";
    return [
      {
        capability: "setPowerLimit",
        reason: `the unit's tuner takes no power target: PerpetualTune offers ${offered}, not "${POWER_ALGORITHM}"`,
      },
    ];
  }
  return [];
}

async function setPowerLimit(ctx: DialectContext, value: number | undefined): Promise<void> {
  if (value === undefined || !Number.isFinite(value) || !(value > 0)) {
    throw new DriverError("WK_EPIC_BAD_VALUE", `setPowerLimit needs a positive wattage, got ${value}`, false);
  }
  // the API takes whole watts
  const target = Math.round(value);
  const range = powerRangeOf(cachedCapabilities(ctx) ?? (await fetchCapabilities(ctx)));
  if (!range) {
    throw new DriverError(
      "WK_EPIC_UNSUPPORTED",
      `the unit's tuner has no "${POWER_ALGORITHM}" algorithm`,
      false,
    );
  }
  if (target < range.minW || target > range.maxW) {
    throw new DriverError(
      "WK_EPIC_OUT_OF_RANGE",
      `power target ${target} W is outside what the unit takes (${range.minW}–${range.maxW} W)`,
      false,
    );
  }
  await epicPost(ctx, "/perpetualtune/algo", { algo: POWER_ALGORITHM, target });
}

const locate: LocateSpec<DialectContext> = {
  async set(ctx, seconds) {
    await epicPost(ctx, "/identify", seconds > 0);
    return undefined;
  },
  async read(ctx) {
    const state = (await readSummary(ctx)).Misc?.["Locate Miner State"];
    if (state === undefined) {
      throw new DriverError(
        "WK_EPIC_NO_LED_STATE",
        `${knownSoftware(ctx) ?? "ePIC"}: GET /summary has no Misc."Locate Miner State"`,
        false,
      );
    }
    return state;
  },
  endsAfter: null,
};

export const epicDialect: DialectSpec = {
  name: "epic",
  capabilities: (endpoint) => (hasPassword(endpoint) ? [...WRITES] : []),
  read,
  confirmRead,
  confirmCapabilities,
  locate,
  async write(ctx, action, value) {
    switch (action) {
      case "sleep":
        return epicPost(ctx, "/miner", "Stop");
      case "wake":
        return epicPost(ctx, "/miner", "Autostart");
      case "reboot":
        return epicPost(ctx, "/reboot", 0);
      case "setPowerLimit":
        return setPowerLimit(ctx, value);
    }
  },
  detectProbe: { port: (endpoint) => endpoint.port, probe: probeEpic },
};
