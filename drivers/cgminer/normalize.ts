// Turns raw CGMiner-API sections (version, summary, pools, stats, devs) into one
// normalised MinerReading. Firmware disagree on field names, units and types
// (bmminer sends "GHS 5s" as a string, "GHS av" as a number), so every value is
// read through toNumber() and every field is optional.
import type { MinerBoard, MinerReading, MinerState, PoolInfo } from "../types.ts";
import type { ModelLookup } from "./models.ts";
import type { Json } from "./repair.ts";

type Row = Record<string, Json>;

/** Numbers, numeric strings (`' 41.0000'`, `"7903.729"`) → number; anything else → null. */
export function toNumber(v: Json | undefined): number | null {
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (typeof v === "string") {
    const t = v.trim();
    if (t === "" || !/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t)) return null;
    const n = Number(t);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

function toText(v: Json | undefined): string | null {
  if (typeof v === "string") return v.trim() === "" ? null : v.trim();
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return null;
}

const isRow = (v: Json | undefined): v is Row => typeof v === "object" && v !== null && !Array.isArray(v);

/** The rows of a section (`SUMMARY`, `POOLS`…) in one command's reply. */
export function rows(reply: Json | undefined, section: string): readonly Row[] {
  if (!isRow(reply)) return NO_ROWS;
  const v = reply[section];
  if (!Array.isArray(v)) return NO_ROWS;
  // the common case, every item a row, costs no copy (this runs several times per poll)
  for (const item of v) if (!isRow(item)) return v.filter(isRow);
  return v as Row[];
}
const NO_ROWS: readonly Row[] = Object.freeze([]);

/** STATUS[0] of a reply: letter S/I/W/E/F, code and message. */
export function statusOf(
  reply: Json | undefined,
): { letter: string; code: number | null; msg: string } | null {
  const st = rows(reply, "STATUS")[0];
  if (!st) return null;
  return { letter: toText(st.STATUS) ?? "?", code: toNumber(st.Code), msg: toText(st.Msg) ?? "" };
}

/**
 * Splits a multi-command reply (`{"summary":[{…}],"pools":[{…}],"id":1}`, an
 * array per command as cgminer's code emits it) into one reply per command.
 * A plain reply is returned under the single command asked.
 */
export function splitMulti(reply: Json, commands: string[]): Record<string, Json> {
  const out: Record<string, Json> = {};
  if (commands.length === 1) {
    out[commands[0]!] = reply;
    return out;
  }
  if (!isRow(reply)) return out;
  for (const cmd of commands) {
    const part = reply[cmd];
    out[cmd] = Array.isArray(part) ? (part[0] ?? null) : (part ?? null);
  }
  return out;
}

/** TH/s per unit of a hashrate field's prefix. */
const UNIT_TO_THS: Record<string, number> = { THS: 1, GHS: 1e-3, MHS: 1e-6, KHS: 1e-9 };

/**
 * A short average: `<unit> <n>s|m` — bmminer `GHS 5s`, cgminer `MHS 5s`/`MHS 1m`,
 * bfgminer `MHS 20s` (its log interval), Whatsminer `MHS 1m`. The window in
 * seconds picks the shortest.
 */
const SHORT_AVG_RE = /^(THS|GHS|MHS|KHS) (\d+(?:\.\d+)?)([sm])$/i;
/** Lifetime averages: after a stop they decay like 1/uptime and never reach 0. Last resort only. */
const LIFETIME_AVG_FIELDS = ["GHS av", "MHS av", "THS av"];

/**
 * The firmware's shortest average hashrate in TH/s; the lifetime average only
 * when the row has no short one at all. Null when the row has neither.
 */
export function hashrateThs(row: Row | undefined): number | null {
  if (!row) return null;
  let bestWindowS = Number.POSITIVE_INFINITY;
  let best: number | null = null;
  for (const k of Object.keys(row)) {
    const m = SHORT_AVG_RE.exec(k);
    if (!m) continue;
    const v = toNumber(row[k]);
    if (v === null) continue;
    const windowS = Number(m[2]) * (m[3]!.toLowerCase() === "m" ? 60 : 1);
    if (windowS < bestWindowS) {
      bestWindowS = windowS;
      best = v * UNIT_TO_THS[m[1]!.toUpperCase()]!;
    }
  }
  if (best !== null) return Math.max(0, best);
  for (const field of LIFETIME_AVG_FIELDS) {
    const v = toNumber(row[field]);
    if (v !== null) return Math.max(0, v * UNIT_TO_THS[field.slice(0, 3)]!);
  }
  return null;
}

/** What `devs` says of the hashing devices (ASC/PGA/GPU: hashboards on an ASIC). */
export interface DeviceSummary {
  count: number;
  /** Enabled and neither dead nor failed to start. */
  working: number;
  disabled: number;
  dead: number;
  /** Sum of the working devices' short averages (TH/s), or null when they report none. */
  workingThs: number | null;
}

/** `devs` answering `No ASCs` / `No PGAs` / `No GPUs` (cgminer Code 10): no hashboard detected. */
const NO_DEVICES_RE = /^no (asc|pga|gpu|device)s?\b/i;
const DEAD_STATUS_RE = /dead|nostart|disabled|failed/i;

/**
 * The devices of a `devs` reply; null when it was not asked or the firmware
 * does not support it (any error other than "no devices").
 */
export function devicesOf(reply: Json | undefined): DeviceSummary | null {
  if (reply === undefined || reply === null) return null;
  const st = statusOf(reply);
  if (!st) return null;
  if (st.letter === "E" || st.letter === "F") {
    return st.code === 10 || NO_DEVICES_RE.test(st.msg)
      ? { count: 0, working: 0, disabled: 0, dead: 0, workingThs: null }
      : null;
  }
  // JSON puts them under DEVS; the text form names each row by its kind (`ASC=0,…`, `PGA=0,…`)
  const devs = devsRows(reply);
  const out: DeviceSummary = { count: devs.length, working: 0, disabled: 0, dead: 0, workingThs: null };
  for (const d of devs) {
    if (toText(d.Enabled)?.toUpperCase() === "N") out.disabled++;
    else if (DEAD_STATUS_RE.test(toText(d.Status) ?? "")) out.dead++;
    else {
      out.working++;
      const ths = hashrateThs(d);
      if (ths !== null) out.workingThs = (out.workingThs ?? 0) + ths;
    }
  }
  return out;
}

/** Why no hashboard works, from `devs`; null while at least one does. */
function devicesFault(d: DeviceSummary): string | null {
  if (d.count === 0) return "no hashboards detected";
  if (d.working > 0) return null;
  const parts: string[] = [];
  if (d.disabled > 0) parts.push(`${d.disabled} disabled`);
  if (d.dead > 0) parts.push(`${d.dead} dead`);
  return d.count === 1
    ? `its only device is ${d.disabled > 0 ? "disabled" : "dead"}`
    : `no hashboard working (${parts.join(", ")} of ${d.count})`;
}

function hasChainKey(r: Row): boolean {
  for (const k of Object.keys(r)) if (/^(fan\d+|temp\d+|chain_rate\d+)$/.test(k)) return true;
  return false;
}

/** Antminer `stats` keeps its data in the STATS row that has chain/fan fields (STATS[1] on stock). */
function minerStatsRow(stats: readonly Row[]): Row | undefined {
  return stats.find((r) => "fan1" in r || "temp1" in r || "chain_rate1" in r || hasChainKey(r)) ?? stats[1];
}

function numberedValues(row: Row | undefined, re: RegExp): number[] {
  if (!row) return [];
  const out: Array<[number, number]> = [];
  // keys, not Object.entries: a stats row has ~100 fields and this runs three times per poll of
  // every miner (entries would allocate a [key, value] pair per field each time)
  for (const k of Object.keys(row)) {
    const m = re.exec(k);
    if (!m) continue;
    const n = toNumber(row[k]);
    // zeros are placeholders for absent chains/fans
    if (n !== null && n > 0) out.push([Number(m[1]), n]);
  }
  return out.sort((a, b) => a[0] - b[0]).map(([, n]) => n);
}

/** Units of Antminer stats' `rate_unit` (GH when absent) per TH/s: a divisor, so 34712.5 GH is 34.7125 exactly. */
function rateUnitsPerThs(row: Row): number {
  const unit = (toText(row.rate_unit) ?? "GH/s").toUpperCase();
  if (unit.startsWith("TH")) return 1;
  if (unit.startsWith("MH")) return 1e6;
  return 1e3;
}

/** Ideal (nominal) hashrate from Antminer stats `total_rateideal` + `rate_unit`. */
function idealThs(row: Row | undefined): number | null {
  if (!row) return null;
  const v = toNumber(row.total_rateideal);
  if (v === null || v <= 0) return null;
  return v / rateUnitsPerThs(row);
}

/** The highest of a LuxOS-style "a-b-c-d" sensor string (or a plain number); null when none is above 0. */
function dashMax(v: Json | undefined): number | null {
  const direct = toNumber(v);
  if (direct !== null) return direct > 0 ? direct : null;
  if (typeof v !== "string") return null;
  const parts = v
    .split("-")
    .map((x) => toNumber(x))
    .filter((x): x is number => x !== null && x > 0);
  return parts.length > 0 ? Math.max(...parts) : null;
}

const CHAIN_NUMBER_RE = /^chain_(?:rate|acn)(\d+)$/;
const positiveOrNull = (n: number | null) => (n !== null && n > 0 ? n : null);

/**
 * Per-board figures from Antminer-style `stats` (chain_rateN, chain_rateidealN,
 * chain_acnN, temp2_N / temp_pcbN board, tempN / temp_chipN chips; chains
 * numbered from 1, 6 or 11). A chain with nothing above zero is a placeholder
 * for a slot the unit does not have, not a dead board.
 */
export function boardsFromStats(row: Row | undefined): MinerBoard[] {
  if (!row) return [];
  const numbers = new Set<number>();
  for (const k of Object.keys(row)) {
    const m = CHAIN_NUMBER_RE.exec(k);
    if (m) numbers.add(Number(m[1]));
  }
  if (numbers.size === 0) return [];
  const unit = rateUnitsPerThs(row);
  const out: MinerBoard[] = [];
  for (const n of [...numbers].sort((a, b) => a - b)) {
    const rate = toNumber(row[`chain_rate${n}`]);
    const ideal = toNumber(row[`chain_rateideal${n}`]);
    const chips = toNumber(row[`chain_acn${n}`]);
    const boardTempC = positiveOrNull(toNumber(row[`temp2_${n}`])) ?? dashMax(row[`temp_pcb${n}`]);
    const chipTempC = positiveOrNull(toNumber(row[`temp${n}`])) ?? dashMax(row[`temp_chip${n}`]);
    const present =
      (rate ?? 0) > 0 || (ideal ?? 0) > 0 || (chips ?? 0) > 0 || boardTempC !== null || chipTempC !== null;
    if (!present) continue;
    out.push({
      index: n,
      hashrateThs: rate === null ? null : Math.max(0, rate / unit),
      idealThs: ideal !== null && ideal > 0 ? ideal / unit : null,
      boardTempC,
      chipTempC,
      chips,
      status: null,
    });
  }
  return out;
}

/** Per-board figures from `devs` rows (one per ASC/PGA: a hashboard on an ASIC), where stats gives none. */
export function boardsFromDevs(devs: readonly Row[]): MinerBoard[] {
  return devs.map((d, i) => ({
    index: toNumber(d.ASC) ?? toNumber(d.PGA) ?? toNumber(d.Slot) ?? toNumber(d.ID) ?? i,
    hashrateThs: hashrateThs(d),
    idealThs: null,
    boardTempC: positiveOrNull(toNumber(d.Temperature)),
    chipTempC: positiveOrNull(toNumber(d["Chip Temp Max"])),
    chips: toNumber(d["Effective Chips"]),
    status: toText(d.Enabled)?.toUpperCase() === "N" ? "Disabled" : toText(d.Status),
  }));
}

/** The `devs` rows of a reply, whatever the kind of device (DEVS, ASCS, PGAS, GPUS). */
function devsRows(reply: Json | undefined): Row[] {
  return [...rows(reply, "DEVS"), ...rows(reply, "ASCS"), ...rows(reply, "PGAS"), ...rows(reply, "GPUS")];
}

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
    model: reading.model,
    firmware: reading.firmware,
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
    boardTempsC: numberedValues(stats, /^temp2_(\d+)$/),
    chipTempMaxC: maxOrNull(numberedValues(stats, /^temp(\d+)$/)),
    fanRpm: numberedValues(stats, /^fan(\d+)$/),
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

/** Per-board figures: Antminer-style stats first, else the `devs` rows. */
function boardsOf(stats: Row | undefined, devs: Json | undefined): MinerBoard[] {
  const fromStats = boardsFromStats(stats);
  if (fromStats.length > 0) return fromStats;
  const st = statusOf(devs);
  return st && st.letter !== "E" && st.letter !== "F" ? boardsFromDevs(devsRows(devs)) : [];
}

function maxOrNull(values: number[]): number | null {
  return values.length === 0 ? null : Math.max(...values);
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
