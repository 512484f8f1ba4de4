// Proto rigs (Block's Proto mining rig) through the MDK API: REST/JSON over
// HTTPS (443 by default, `webPort` to change; plain HTTP is found by falling
// back), JWT from POST /api/v1/auth/login (drivers/cgminer/dialects/proto/client.ts).
// No CGMiner API. Facts from Proto Fleet's proto-rig-api/openapi/MDK-API.json
// (MDK API 1.8.x); docs/research.md, Proto.
//
// Reads: GET /api/v1/system (no auth: OS version, product, uptime), and with
// the token /api/v1/mining (state, draw, power target), /api/v1/mining/target
// (the range the rig takes: minPowerLimitW/maxPowerLimitW),
// /api/v1/telemetry?level=miner,hashboard,asic (hashrate, board and chip
// temperatures), /api/v1/cooling (fans) and /api/v1/pools — all in parallel.
// A write's read-back is /api/v1/mining alone.
//
// Writes: sleep = POST /api/v1/mining/stop (the rig keeps only its control board
// running), wake = POST /api/v1/mining/start, reboot = POST /api/v1/system/reboot,
// setPowerLimit = PUT /api/v1/mining/target {power_target_watts} after checking
// the target against the rig's own min/max (a target outside is refused before
// anything is sent). All need the rig's password; without it, nothing is declared.
// Locate: POST /api/v1/system/locate?led_on_time=<s>&enable=true flashes the
// control board's LED for that long and the rig ends it by itself; enable=false
// clears it at once (202 either way). The API has no read of the LED: the outcome
// says it is not confirmed.
//
// A reply shaped differently from the API (a field gone or of another type, an
// endpoint gone, a token refused just after login) is WK_FIRMWARE_CHANGED
// naming the firmware version and what changed: the reading is `faulted` with
// that reason, and writes stop there, instead of guessing.

import type { z } from "zod";
import { codedReason } from "../../../errors.ts";
import { DriverError, type MinerCapability, type MinerReading, type MinerState } from "../../../types.ts";
import { failedReading } from "../../client.ts";
import type { DialectContext, DialectSpec, Withdrawn } from "../../driver.ts";
import { isHttpTransportError } from "../../http-client.ts";
import type { JsonReply } from "../../http-json.ts";
import type { LocateSpec } from "../../locate.ts";
import {
  authed,
  forget,
  getPublic,
  knownVersion,
  LABEL,
  PROTO_DEFAULT_PORT,
  password,
  rememberVersion,
  statusError,
} from "./client.ts";
import {
  CoolingSchema,
  type MiningStatus,
  MiningStatusSchema,
  type MiningTarget,
  MiningTargetSchema,
  PoolsSchema,
  parseReply,
  type SystemInfo,
  SystemInfoSchema,
  TelemetrySchema,
} from "./schemas.ts";

const CAPABILITIES: MinerCapability[] = ["sleep", "wake", "setPowerLimit", "reboot", "locate"];
const TELEMETRY = "/api/v1/telemetry?level=miner,hashboard,asic";

/** Parses the reply to `where` (the request, for errors), which must be 200, with `schema`. */
function expect<S extends z.ZodType>(
  ctx: DialectContext,
  { where, reply }: { where: string; reply: JsonReply },
  schema: S,
): z.infer<S> {
  if (reply.status !== 200) throw statusError(where, reply, knownVersion(ctx));
  return parseReply(schema, reply.json, { where, version: knownVersion(ctx) });
}

function parseSystem(ctx: DialectContext, reply: JsonReply): SystemInfo {
  const info = expect(ctx, { where: "GET /api/v1/system", reply }, SystemInfoSchema)["system-info"];
  rememberVersion(ctx, info.os.version);
  return info;
}

const firmwareOf = (version: string | null) => (version ? `proto ${version}` : null);

/** The state a MiningStatus.status means here, with why when it is not plain hashing. */
export function stateOf(m: MiningStatus): { state: MinerState; reason: string | null } {
  switch (m.status) {
    case "Mining":
      return { state: "hashing", reason: null };
    case "DegradedMining":
      return {
        state: "hashing",
        reason: `degraded mining (${m.hashboards_mining ?? "?"} of ${m.hashboards_installed ?? "?"} hashboards)`,
      };
    case "PoweringOn":
    case "Uninitialized":
      return { state: "starting", reason: `mining status ${m.status}` };
    case "PoweringOff":
    case "Stopped":
      return { state: "sleeping", reason: `mining status ${m.status}` };
    case "Curtailed":
      return { state: "sleeping", reason: "curtailed by the rig's own curtailment service" };
    case "NoPools":
      return { state: "faulted", reason: "NoPools: no mining pool configured or reachable" };
    case "Error":
      return { state: "faulted", reason: "mining status Error" };
  }
}

/** The reading /api/v1/mining alone gives (a write's read-back). */
function fromMining(ctx: DialectContext, m: MiningStatus): MinerReading {
  const { state, reason } = stateOf(m);
  return {
    ...failedReading(ctx.now(), state, reason ?? ""),
    reason,
    // the current hashrate is telemetry's; a stopped rig hashes nothing
    hashrateThs: state === "sleeping" ? 0 : null,
    powerW: m.power_usage_watts,
    powerEstimated: false,
    powerLimitW: m.power_target_watts > 0 ? m.power_target_watts : null,
    uptimeS: m.reboot_uptime_s ?? null,
    firmware: firmwareOf(knownVersion(ctx)),
  };
}

/** A failure as the reading the site sees: no answer is `unreachable`, the rest `faulted` with the code. */
function readingForError(ctx: DialectContext, err: unknown, partial?: Partial<MinerReading>): MinerReading {
  const at = ctx.now();
  if (isHttpTransportError(err, LABEL) || (err instanceof DriverError && err.code === `WK_${LABEL}_TLS`)) {
    return failedReading(at, "unreachable", `${err.code}: ${err.message}`);
  }
  const reason =
    err instanceof DriverError
      ? `${err.code}: ${err.message}`
      : codedReason("WK_PROTO_INTERNAL", `${(err as Error)?.message}`);
  return { ...failedReading(at, "faulted", reason), ...partial, state: "faulted", reason };
}

async function read(ctx: DialectContext): Promise<MinerReading> {
  let partial: Partial<MinerReading> | undefined;
  try {
    const pw = password(ctx);
    // every request at once: a poll costs one round trip (two at first login)
    const restP =
      pw === null
        ? Promise.resolve(null)
        : Promise.all([
            authed(ctx, { method: "GET", path: "/api/v1/mining" }),
            authed(ctx, { method: "GET", path: "/api/v1/mining/target" }),
            authed(ctx, { method: "GET", path: TELEMETRY }),
            authed(ctx, { method: "GET", path: "/api/v1/cooling" }),
            authed(ctx, { method: "GET", path: "/api/v1/pools" }),
          ]);
    // awaited below; the public part first, so a refused login still names the firmware
    restP.catch(() => {});
    const sys = parseSystem(ctx, await getPublic(ctx, "/api/v1/system"));
    partial = {
      firmware: firmwareOf(sys.os.version),
      model: sys.product_name ?? ([sys.manufacturer, sys.model].filter(Boolean).join(" ") || null),
      uptimeS: sys.uptime_seconds ?? null,
    };
    const rest = await restP;
    if (rest === null) {
      throw new DriverError(
        "WK_PROTO_NO_CREDENTIALS",
        "the MDK API needs the rig's password (credentials.password) for mining status and control",
        false,
      );
    }
    const [miningR, targetR, telemetryR, coolingR, poolsR] = rest;
    if (miningR.status === 204) {
      // the spec's "no mining statistics available": the rig has not started mining yet
      return { ...failedReading(ctx.now(), "starting", "no mining statistics yet (HTTP 204)"), ...partial };
    }
    const mining = expect(ctx, { where: "GET /api/v1/mining", reply: miningR }, MiningStatusSchema)[
      "mining-status"
    ];
    const target = expect(ctx, { where: "GET /api/v1/mining/target", reply: targetR }, MiningTargetSchema);
    const telemetry = expect(ctx, { where: `GET ${TELEMETRY}`, reply: telemetryR }, TelemetrySchema);
    const cooling = expect(ctx, { where: "GET /api/v1/cooling", reply: coolingR }, CoolingSchema)[
      "cooling-status"
    ];
    const pools = expect(ctx, { where: "GET /api/v1/pools", reply: poolsR }, PoolsSchema).pools;
    const boards = [...(telemetry.hashboards ?? [])].sort((a, b) => a.index - b.index);
    const chips = boards.flatMap((b) => b.asics?.temperature.values ?? []).filter((t) => t > 0);
    return {
      ...fromMining(ctx, mining),
      ...partial,
      uptimeS: sys.uptime_seconds ?? mining.reboot_uptime_s ?? null,
      hashrateThs: telemetry.miner.hashrate.value,
      minPowerLimitW: target.power_target_min_watts,
      maxPowerLimitW: target.power_target_max_watts,
      boardTempsC: boards.map((b) => b.temperature.average),
      chipTempMaxC: chips.length > 0 ? Math.max(...chips) : (mining.average_asic_temp_c ?? null),
      fanRpm: (cooling.fans ?? []).map((f) => f.rpm ?? 0),
      pools: [...pools]
        .sort((a, b) => (a.id ?? 0) - (b.id ?? 0))
        .filter((p) => p.url)
        .map((p) => ({ url: p.url ?? null, user: p.user ?? null, status: p.status ?? null })),
    };
  } catch (err) {
    return readingForError(ctx, err, partial);
  }
}

async function confirmRead(ctx: DialectContext): Promise<MinerReading> {
  try {
    const reply = await authed(ctx, { method: "GET", path: "/api/v1/mining" });
    if (reply.status === 204)
      return failedReading(ctx.now(), "starting", "no mining statistics yet (HTTP 204)");
    return fromMining(
      ctx,
      expect(ctx, { where: "GET /api/v1/mining", reply }, MiningStatusSchema)["mining-status"],
    );
  } catch (err) {
    return readingForError(ctx, err);
  }
}

async function getTarget(ctx: DialectContext): Promise<MiningTarget> {
  const reply = await authed(ctx, { method: "GET", path: "/api/v1/mining/target" });
  return expect(ctx, { where: "GET /api/v1/mining/target", reply }, MiningTargetSchema);
}

async function setPowerTarget(ctx: DialectContext, watts: number): Promise<void> {
  const range = await getTarget(ctx);
  const min = range.power_target_min_watts;
  const max = range.power_target_max_watts;
  const w = Math.round(watts);
  if (w < min || w > max) {
    throw new DriverError(
      "WK_PROTO_TARGET_OUT_OF_RANGE",
      `power target ${w} W is outside what this rig takes (${min}–${max} W): not sent`,
      false,
    );
  }
  const where = "PUT /api/v1/mining/target";
  const reply = await authed(ctx, {
    method: "PUT",
    path: "/api/v1/mining/target",
    json: { power_target_watts: w },
  });
  expect(ctx, { where, reply }, MiningTargetSchema);
}

/** POST an action that answers 202 Accepted (MessageResponse). */
async function action(ctx: DialectContext, path: string): Promise<void> {
  const reply = await authed(ctx, { method: "POST", path });
  // 200 is taken too: an accepted command is an accepted command; the read-back decides
  if (reply.status !== 202 && reply.status !== 200)
    throw statusError(`POST ${path}`, reply, knownVersion(ctx));
}

/**
 * First contact: log in and read the power-target range. Refused credentials
 * withdraw everything; a target endpoint that is gone withdraws setPowerLimit.
 * No answer throws (asked again later).
 */
async function confirmCapabilities(ctx: DialectContext, declared: MinerCapability[]): Promise<Withdrawn[]> {
  if (declared.length === 0) return [];
  try {
    await getTarget(ctx);
    return [];
  } catch (err) {
    // no answer, or one that may change (a 5xx): not known yet
    if (!(err instanceof DriverError) || err.retryable) throw err;
    if (err.code === "WK_FIRMWARE_CHANGED" && /mining\/target (answered|reply)/.test(err.message)) {
      return [{ capability: "setPowerLimit", reason: `${err.code}: ${err.message}` }];
    }
    return declared.map((capability) => ({ capability, reason: `${err.code}: ${err.message}` }));
  }
}

async function probe(ctx: DialectContext): Promise<string | null> {
  let reply: JsonReply;
  try {
    reply = await getPublic(ctx, "/api/v1/system");
  } catch (err) {
    if (isHttpTransportError(err, LABEL)) throw err;
    return null; // not JSON, not TLS nor HTTP: something else listens here
  }
  if (reply.status !== 200 || typeof reply.json !== "object" || reply.json === null) return null;
  const info = (reply.json as Record<string, unknown>)["system-info"];
  if (typeof info !== "object" || info === null) return null;
  const i = info as Record<string, unknown>;
  const words = [i.manufacturer, i.product_name].filter((x): x is string => typeof x === "string");
  if (!words.some((w) => /\bproto\b/i.test(w))) return null;
  const os = i.os as { version?: unknown } | undefined;
  const version = typeof os?.version === "string" ? os.version : "version unknown";
  return `GET /api/v1/system: ${words.join(" / ").slice(0, 60)}, firmware ${version.slice(0, 40)}`;
}

const locate: LocateSpec<DialectContext> = {
  async set(ctx, seconds) {
    // led_on_time 0 would mean "until told": an "on" is always sent with its time
    const q = seconds > 0 ? `led_on_time=${Math.max(1, Math.round(seconds))}&enable=true` : "enable=false";
    await action(ctx, `/api/v1/system/locate?${q}`);
    return undefined;
  },
  endsAfter: "asked",
};

export const protoDialect: DialectSpec = {
  name: "proto",
  capabilities: (endpoint) => {
    const p = endpoint.credentials?.password;
    return typeof p === "string" && p !== "" ? [...CAPABILITIES] : [];
  },
  read,
  confirmRead,
  confirmCapabilities,
  locate,
  async write(ctx, act, value) {
    switch (act) {
      case "sleep":
        return action(ctx, "/api/v1/mining/stop");
      case "wake":
        return action(ctx, "/api/v1/mining/start");
      case "reboot":
        return action(ctx, "/api/v1/system/reboot");
      case "setPowerLimit":
        if (value === undefined || !(value > 0)) {
          throw new DriverError("WK_PROTO_BAD_VALUE", "setPowerLimit needs a positive wattage", false);
        }
        return setPowerTarget(ctx, value);
    }
  },
  async close(ctx) {
    forget(ctx);
  },
  detectProbe: {
    port: (endpoint) => endpoint.webPort ?? PROTO_DEFAULT_PORT,
    probe,
  },
};
