// GET /api/system/info of ESP-Miner / AxeOS, validated and turned into a
// MinerReading. The fields read here have been in every release since v2.0
// (power, hashRate in GH/s, temp, uptimeSeconds, version, ASICModel,
// stratumURL/Port/User); the documented variants are optional here: boardVersion
// (v2.1+), fanrpm (v2.4+; v2.0 reports fanSpeed % only), vrTemp, axeOSVersion
// (v2.9+), miningPaused (v2.14+), isUsingFallbackStratum (a number in ESP-Miner,
// a boolean in the NerdQAxe fork). cJSON writes a NaN or infinite reading (a
// failed sensor) as null, so telemetry numbers may be null.
//
// Anything else — a field read here gone, its type changed, a v2.14+ unit
// without miningPaused — is a firmware change: WK_FIRMWARE_CHANGED names the
// firmware, its version and what changed, and nothing is guessed.
import { z } from "zod";
import { printable } from "../../../printable.ts";
import { DriverError, type MinerReading, type MinerState, type PoolInfo } from "../../../types.ts";
import {
  type AxeosFlavour,
  atLeast,
  modelName,
  PAUSE_SINCE,
  PAUSE_SINCE_TEXT,
  parseAxeosVersion,
} from "./facts.ts";

export const INFO_PATH = "/api/system/info";

/** A telemetry number: null when the sensor failed (cJSON prints NaN as null). */
const reading = z.number().nullable();
const count = z.number().finite();

const InfoSchema = z.looseObject({
  version: z.string(),
  ASICModel: z.string(),
  power: reading,
  hashRate: reading,
  temp: reading,
  uptimeSeconds: count.nonnegative(),
  stratumURL: z.string(),
  stratumPort: count,
  stratumUser: z.string(),
  boardVersion: z.string().optional(),
  axeOSVersion: z.string().optional(),
  deviceModel: z.string().optional(),
  hostname: z.string().optional(),
  vrTemp: reading.optional(),
  temp2: reading.optional(),
  fanrpm: count.optional(),
  fan2rpm: count.optional(),
  fallbackStratumURL: z.string().optional(),
  fallbackStratumPort: count.optional(),
  fallbackStratumUser: z.string().optional(),
  isUsingFallbackStratum: z.union([count, z.boolean()]).optional(),
  miningPaused: z.boolean().optional(),
  overheat_mode: z.union([count, z.boolean()]).optional(),
  power_fault: z.string().optional(),
  hardware_fault: z.string().optional(),
  frequency: count.optional(),
  coreVoltage: count.optional(),
});

export type AxeosInfo = z.infer<typeof InfoSchema>;

/** The error for a reply that is not what this firmware's API is known to send. */
export function firmwareChanged(version: string | null, what: string): DriverError {
  return new DriverError(
    "WK_FIRMWARE_CHANGED",
    `axeos ${version === null ? "(version unknown)" : printable(version)}: ${what}`,
    false,
  );
}

const typeName = (v: unknown) => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v);

/** `hashRate is now string "1.2 TH/s" (was number)`, `power is gone`… for each issue, joined. */
function describeIssues(json: Record<string, unknown>, issues: z.core.$ZodIssue[]): string {
  return issues
    .slice(0, 4)
    .map((i) => {
      const key = i.path.map(String).join(".") || "(reply)";
      const top = i.path[0];
      if (typeof top === "string" && !(top in json)) return `${key} is gone`;
      const value = typeof top === "string" ? json[top] : json;
      const shown = typeof value === "string" ? ` ${printable(JSON.stringify(value.slice(0, 40)))}` : "";
      if (i.code === "invalid_type") return `${key} is now ${typeName(value)}${shown} (was ${i.expected})`;
      return `${key}: ${i.message}`;
    })
    .join("; ");
}

/** Validates an /api/system/info reply; throws WK_FIRMWARE_CHANGED when its shape is not a known one. */
export function parseInfo(json: unknown): AxeosInfo {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw firmwareChanged(null, `${INFO_PATH} answered ${typeName(json)}, not a JSON object`);
  }
  const obj = json as Record<string, unknown>;
  const version = typeof obj.version === "string" ? obj.version : null;
  const parsed = InfoSchema.safeParse(obj);
  if (!parsed.success)
    throw firmwareChanged(version, `${INFO_PATH}: ${describeIssues(obj, parsed.error.issues)}`);
  const info = parsed.data;
  const v = parseAxeosVersion(info.version);
  if (
    flavourOf(info).kind === "esp-miner" &&
    v &&
    atLeast(v, PAUSE_SINCE) &&
    info.miningPaused === undefined
  ) {
    throw firmwareChanged(
      info.version,
      `${INFO_PATH}: miningPaused is gone (ESP-Miner reports it since ${PAUSE_SINCE_TEXT})`,
    );
  }
  return info;
}

/** Whether a reply looks like AxeOS's info at all (the probe's test; looser than parseInfo). */
export function looksLikeAxeos(json: unknown): json is Record<string, unknown> {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return false;
  const o = json as Record<string, unknown>;
  return (
    typeof o.ASICModel === "string" &&
    typeof o.version === "string" &&
    "hashRate" in o &&
    "stratumURL" in o &&
    "uptimeSeconds" in o
  );
}

export function flavourOf(info: Pick<AxeosInfo, "deviceModel">): AxeosFlavour {
  return info.deviceModel !== undefined && info.deviceModel.trim() !== ""
    ? { kind: "nerdqaxe", deviceModel: info.deviceModel.trim() }
    : { kind: "esp-miner" };
}

const truthy = (v: number | boolean | undefined) => v === true || (typeof v === "number" && v !== 0);

function poolsOf(info: AxeosInfo): PoolInfo[] {
  const fallback = truthy(info.isUsingFallbackStratum);
  const pools: PoolInfo[] = [];
  if (info.stratumURL !== "") {
    pools.push({
      url: `stratum+tcp://${info.stratumURL}:${info.stratumPort}`,
      user: info.stratumUser || null,
      status: fallback ? "standby" : "active",
    });
  }
  if (info.fallbackStratumURL) {
    pools.push({
      url: `stratum+tcp://${info.fallbackStratumURL}:${info.fallbackStratumPort ?? 0}`,
      user: info.fallbackStratumUser || null,
      status: fallback ? "active" : "standby",
    });
  }
  return pools;
}

/** A unit this young with no hashrate is still bringing its ASIC up. */
const BOOT_GRACE_S = 120;

function stateOf(info: AxeosInfo): { state: MinerState; reason: string | null } {
  if (info.miningPaused === true) return { state: "sleeping", reason: "mining paused (/api/system/pause)" };
  if (truthy(info.overheat_mode))
    return { state: "faulted", reason: "overheat safe mode: mining halted until the setting is cleared" };
  if (info.hardware_fault)
    return { state: "faulted", reason: `hardware fault: ${printable(info.hardware_fault)}` };
  if (info.power_fault) return { state: "faulted", reason: `power fault: ${printable(info.power_fault)}` };
  if (!(info.hashRate !== null && info.hashRate > 0) && info.uptimeSeconds < BOOT_GRACE_S)
    return { state: "starting", reason: `booted ${Math.round(info.uptimeSeconds)} s ago, no hashrate yet` };
  return { state: "hashing", reason: null };
}

const finite = (v: number | null | undefined): number | null =>
  typeof v === "number" && Number.isFinite(v) ? v : null;

/** The normalised reading of a validated info reply taken at `at`. */
export function readingFromInfo(info: AxeosInfo, at: number): MinerReading {
  const { state, reason } = stateOf(info);
  const chipTemps = [finite(info.temp), finite(info.temp2)].filter((t): t is number => t !== null && t > 0);
  const vr = finite(info.vrTemp);
  const hashGhs = finite(info.hashRate);
  const fans = [info.fanrpm, info.fan2rpm].filter((f): f is number => f !== undefined);
  // a second fan header that reads 0 is not fitted on most boards
  const fanRpm = fans.length > 1 && fans[1] === 0 ? fans.slice(0, 1) : fans;
  return {
    at,
    state,
    reason,
    hashrateThs: hashGhs === null ? null : hashGhs / 1000,
    powerW: finite(info.power),
    powerEstimated: false,
    powerLimitW: null,
    boardTempsC: vr !== null && vr > 0 ? [vr] : [],
    chipTempMaxC: chipTemps.length > 0 ? Math.max(...chipTemps) : null,
    fanRpm,
    pools: poolsOf(info),
    uptimeS: Math.floor(info.uptimeSeconds),
    firmware: `axeos ${printable(info.version)}`,
    model: printable(modelName(info.ASICModel, info.boardVersion, info.deviceModel)),
  };
}
