// Turns raw CGMiner-API sections (version, summary, pools, stats, devs) into one
// normalised MinerReading: the stock reading most dialects start from. Fields
// are read through normalize.ts, boards through boards.ts.
import { sharedText } from "../shared.ts";
import type { MinerReading, MinerState, PoolInfo } from "../types.ts";
import {
  boardsOf,
  type DeviceSummary,
  devicesFault,
  devicesOf,
  idealThs,
  maxOrNull,
  minerStatsRow,
  numberedValues,
} from "./boards.ts";
import type { ModelLookup } from "./models.ts";
import { hashrateThs, type Row, rows, toNumber, toText } from "./normalize.ts";
import type { Json } from "./repair.ts";

export interface NormalizeInput {
  at: number;
  version?: Json;
  summary?: Json;
  pools?: Json;
  stats?: Json;
  /** `devs`, where the read asked it: no devices, or none working, is a fault. */
  devs?: Json;
  /** Nameplate power from the config, for estimating when the firmware reports none. */
  nominalW?: number | null;
  /** The models the site knows (config/models): the nameplate of the reported model, where the config gives none. */
  models?: ModelLookup | null;
  /**
   * A summary-only read (poll tiers): what the last full read learnt, standing in for the
   * sections not asked (version, pools, devs; stats unless the memo says it is needed).
   */
  kept?: SummaryMemo | null;
}

/** What a summary-only read takes from the last full read of the same miner. */
export interface SummaryMemo {
  model: string | null;
  firmware: string | null;
  /** Antminer stats' total_rateideal, TH/s: the ratio of a power estimate. */
  idealThs: number | null;
  /** For an idle miner's state (no pool alive is a fault). */
  pools: PoolInfo[];
  devices: DeviceSummary | null;
  /** The summary lacks power or uptime that `stats` gives: stats is asked at every poll then. */
  needsStats: boolean;
}

/** The memo of a full read, for the summary-only reads that follow it. */
export function summaryMemoOf(input: NormalizeInput, reading: MinerReading): SummaryMemo {
  const summary = rows(input.summary, "SUMMARY")[0];
  const stats = minerStatsRow(rows(input.stats, "STATS"));
  const statsPower = toNumber(stats?.Power) ?? toNumber(stats?.power);
  const needsStats =
    (toNumber(summary?.Power) === null && statsPower !== null) ||
    (toNumber(summary?.Elapsed) === null && toNumber(stats?.Elapsed) !== null);
  return {
    // the shared copies: the memo outlives the reading
    model: sharedText(reading.model),
    firmware: sharedText(reading.firmware),
    idealThs: idealThs(stats),
    pools: reading.pools,
    devices: devicesOf(input.devs),
    needsStats,
  };
}

export function normalizeMiner(input: NormalizeInput): MinerReading {
  const summary = rows(input.summary, "SUMMARY")[0];
  const version = rows(input.version, "VERSION")[0];
  const statsRows = rows(input.stats, "STATS");
  const stats = minerStatsRow(statsRows);
  const kept = input.kept ?? null;

  const devices = kept ? kept.devices : devicesOf(input.devs);
  let fault = devices ? devicesFault(devices) : null;
  const summaryThs = hashrateThs(summary);
  // a kept fault holds while the summary shows nothing hashing; a summary hashing again is a
  // change of state, which the driver reads in full at once
  if (kept && fault !== null && summaryThs !== null && summaryThs > 0) fault = null;
  // with no hashboard working the miner mines nothing, whatever a decaying average says
  const ths = fault !== null ? 0 : summaryThs;
  const pools: PoolInfo[] = kept
    ? kept.pools
    : rows(input.pools, "POOLS").map((p) => ({
        url: toText(p.URL),
        user: toText(p.User),
        status: toText(p.Status),
      }));

  const uptimeS = toNumber(summary?.Elapsed) ?? toNumber(stats?.Elapsed);
  const model =
    toText(version?.Type) ??
    toText(statsRows[0]?.Type) ??
    toText(stats?.Type) ??
    toText(version?.Model) ??
    kept?.model ??
    null;

  const reportedW = toNumber(summary?.Power) ?? toNumber(stats?.Power) ?? toNumber(stats?.power) ?? null;
  let powerW = reportedW;
  let powerEstimated = false;
  const nameplate = input.models?.find(model) ?? null;
  const nominalW = input.nominalW ?? nameplate?.nominalW ?? null;
  if (powerW === null && nominalW !== null && ths !== null) {
    const ideal = idealThs(stats) ?? kept?.idealThs ?? nameplate?.nominalThs ?? null;
    // without a nominal hashrate, a hashing miner is taken at nameplate and a stopped one at 0
    const ratio = ideal ? Math.min(1.2, ths / ideal) : ths > 0 ? 1 : 0;
    powerW = Math.round(nominalW * ratio);
    powerEstimated = true;
  }
  const firmware = (version ? null : kept?.firmware) ?? firmwareOf(version, input.summary);

  let state: MinerState = "hashing";
  let reason: string | null = null;
  if (fault !== null) {
    state = "faulted";
    reason = fault;
  } else if (ths === null) {
    state = "faulted";
    reason = "no hashrate in summary";
  } else if (ths === 0) {
    ({ state, reason } = idleState(pools, uptimeS, false));
  } else if (devices && devices.working < devices.count) {
    // hashing on fewer boards than it has: still hashing, and worth a look
    reason = `${devices.count - devices.working} of ${devices.count} hashboards not working`;
  }

  return {
    at: input.at,
    state,
    reason,
    hashrateThs: ths,
    powerW,
    powerEstimated,
    powerLimitW: toNumber(summary?.["Power Limit"]) ?? null,
    boardTempsC: numberedValues(stats, "temp2_"),
    chipTempMaxC: maxOrNull(numberedValues(stats, "temp")),
    fanRpm: numberedValues(stats, "fan"),
    boards: boardsOf(stats, input.devs),
    pools,
    uptimeS,
    firmware,
    model,
  };
}

/**
 * The state of a miner that reports zero hashrate: faulted when no pool is
 * alive, starting while its boards power up (`poweredOn`, or early in its
 * uptime), else sleeping.
 */
export function idleState(
  pools: PoolInfo[],
  uptimeS: number | null,
  poweredOn: boolean,
): { state: MinerState; reason: string } {
  if (pools.length > 0 && !pools.some((p) => /alive/i.test(p.status ?? ""))) {
    return { state: "faulted", reason: "no pool alive" };
  }
  if (poweredOn || (uptimeS !== null && uptimeS < 120))
    return { state: "starting", reason: "hashboards starting" };
  return { state: "sleeping", reason: "not hashing" };
}

/** A `Miner` value that names its program ("bfgminer 5.5.0-…", "btminer 2.0.7"), not a bare build tag. */
const NAMED_MINER_RE = /^[a-z][\w.-]*miner\b/i;

function firmwareOf(version: Row | undefined, summaryReply: Json | undefined): string | null {
  if (version) {
    // bfgminer sends its own name under Miner beside a CGMiner API version: the name wins
    const named = toText(version.Miner);
    if (named && NAMED_MINER_RE.test(named)) return named;
    for (const key of ["BMMiner", "LUXminer", "BOSminer", "CGMiner", "Miner"]) {
      const v = toText(version[key]);
      if (v) return key === "Miner" ? v : `${key.toLowerCase()} ${v}`;
    }
  }
  const st = rows(summaryReply, "STATUS")[0];
  return st ? toText(st.Description) : null;
}
