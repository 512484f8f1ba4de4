// ePIC UMC replies (validated by schema.ts) → the normalised MinerReading.
// Pure: no I/O, so the mapping is tested on its own.
//
// - state from Status."Operating State": Mining → hashing; Idling or Stopping
//   (after `miner Stop`) → sleeping, but faulted when Status."Last Error"
//   says why it idles; the boot, tune and update states → starting.
// - hashrate: the sum of HBs[].Hashrate[0] (MH/s); power: "Power Supply
//   Stats"."Input Power" (W, measured by the PSU).
// - power limit: the tuner's target when it runs the "Power" algorithm (its
//   Unit is watts); min/max from /capabilities' "Power" option.
import type { MinerReading, MinerState, PoolInfo } from "../../../types.ts";
import {
  describeEpicError,
  type EpicCapabilities,
  type EpicSummary,
  firmwareLabel,
  type OperatingState,
  POWER_ALGORITHM,
} from "./schema.ts";

const STATE: Record<OperatingState, { state: MinerState; reason: string | null }> = {
  Mining: { state: "hashing", reason: null },
  Idling: { state: "sleeping", reason: "idling (mining stopped)" },
  Stopping: { state: "sleeping", reason: "stopping" },
  Initializing: { state: "starting", reason: "initializing" },
  Loading: { state: "starting", reason: "loading" },
  PreInitCooldown: { state: "starting", reason: "cooling down before init" },
  AdjustingClockVoltage: { state: "starting", reason: "adjusting clocks and voltage" },
  Testing: { state: "starting", reason: "testing" },
  Rebooting: { state: "starting", reason: "rebooting" },
  SoftRebooting: { state: "starting", reason: "restarting the mining program" },
  UpdatingFirmware: { state: "starting", reason: "updating firmware" },
};

/** The tuner's power target (W) when it runs the power algorithm, else null. */
export function powerTargetOf(summary: EpicSummary): number | null {
  const tune = summary.PerpetualTune;
  if (!tune.Running) return null;
  for (const [name, stats] of Object.entries(tune.Algorithm)) {
    // the algorithm's Unit says what Target counts: "W" for power, "TH/s" for the hashrate tuners
    const watts = /^\s*k?W\s*$/i.test(stats.Unit);
    if ((name === POWER_ALGORITHM || watts) && stats.Target > 0) {
      return /^\s*kW/i.test(stats.Unit) ? stats.Target * 1000 : stats.Target;
    }
  }
  return null;
}

/** The power algorithm's target range as the unit reports it, or null when its tuner has none. */
export function powerRangeOf(caps: EpicCapabilities): { minW: number; maxW: number } | null {
  const opt = caps.PerpetualTune.find((o) => o.algorithm === POWER_ALGORITHM);
  return opt && opt.max > 0 ? { minW: opt.min, maxW: opt.max } : null;
}

/** Configured pools, the one in use marked Alive/Dead by the stratum connection. */
function poolsOf(summary: EpicSummary): PoolInfo[] {
  const s = summary.Stratum;
  const status = s.IsPoolConnected ? "Alive" : "Dead";
  const pools: PoolInfo[] = summary.StratumConfigs.map((c, i) => ({
    url: c.pool || null,
    user: c.login || null,
    status: i === s["Config Id"] ? status : null,
  }));
  if (pools.length === 0 && s["Current Pool"] !== "") {
    // the current pool is reported without its scheme ("mine.ocean.xyz:3334")
    pools.push({ url: s["Current Pool"], user: s["Current User"] || null, status });
  }
  return pools;
}

/** Fans in their number order ("Fans Speed 1".."12"); absent fans (null) left out, stopped ones kept as 0. */
export function fansOf(summary: EpicSummary): number[] {
  return Object.entries(summary["Fans Rpm"])
    .map(([k, v]) => [Number(/(\d+)\s*$/.exec(k)?.[1] ?? Number.NaN), v] as const)
    .filter((e): e is readonly [number, number] => Number.isFinite(e[0]) && e[1] !== null)
    .sort((a, b) => a[0] - b[0])
    .map(([, v]) => v);
}

/** The hottest chip reading above 0 (0 marks a chip without a reading). */
function chipMaxOf(chipTemps: Array<{ Data: number[] }> | null): number | null {
  if (!chipTemps) return null;
  let max: number | null = null;
  for (const b of chipTemps) for (const t of b.Data) if (t > 0 && (max === null || t > max)) max = t;
  return max;
}

export interface EpicReadParts {
  at: number;
  summary: EpicSummary;
  capabilities: EpicCapabilities | null;
  chipTemps: Array<{ Data: number[] }> | null;
}

export function normalizeEpic(p: EpicReadParts): MinerReading {
  const { summary } = p;
  const op = summary.Status["Operating State"];
  let { state, reason } = STATE[op];
  const lastError = summary.Status["Last Error"];
  if (state === "sleeping" && lastError != null) {
    // idling because of an error (no hashboards, shutdown temperature…), not because it was told to
    state = "faulted";
    reason = `${op}: ${describeEpicError(lastError)}`;
  }
  const boards = [...(summary.HBs ?? [])].sort((a, b) => a.Index - b.Index);
  const mhs = boards.reduce((sum, b) => sum + (b.Hashrate[0] ?? 0), 0);
  const temps = boards.map((b) => b.Temperature).filter((t): t is number => typeof t === "number" && t > 0);
  const range = p.capabilities ? powerRangeOf(p.capabilities) : null;
  return {
    at: p.at,
    state,
    reason,
    hashrateThs: Math.round(mhs) / 1e6,
    powerW: summary["Power Supply Stats"]["Input Power"],
    powerEstimated: false,
    powerLimitW: powerTargetOf(summary),
    minPowerLimitW: range?.minW ?? null,
    maxPowerLimitW: range?.maxW ?? null,
    boardTempsC: temps,
    chipTempMaxC: chipMaxOf(p.chipTemps),
    fanRpm: fansOf(summary),
    pools: poolsOf(summary),
    uptimeS: summary.Session.Uptime,
    firmware: firmwareLabel(summary.Software),
    model: p.capabilities?.Model ?? null,
  };
}
