// Hashboards from a CGMiner-API reply: what `devs` says of the devices (how
// many work, how many are dead or disabled) and per-board figures from
// Antminer-style `stats` (chain_rateN…) or, where stats gives none, `devs`.
import type { MinerBoard } from "../types.ts";
import { hashrateThs, type Row, rows, statusOf, toNumber, toText } from "./normalize.ts";
import type { Json } from "./repair.ts";

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
export function devicesFault(d: DeviceSummary): string | null {
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
export function minerStatsRow(stats: readonly Row[]): Row | undefined {
  return stats.find((r) => "fan1" in r || "temp1" in r || "chain_rate1" in r || hasChainKey(r)) ?? stats[1];
}

export function numberedValues(row: Row | undefined, re: RegExp): number[] {
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
export function idealThs(row: Row | undefined): number | null {
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
  // a copy of exact length: pushing left room for 17 boards, kept with the reading (2 MB at 20,000)
  return out.slice();
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

/** Per-board figures: Antminer-style stats first, else the `devs` rows. */
export function boardsOf(stats: Row | undefined, devs: Json | undefined): MinerBoard[] {
  const fromStats = boardsFromStats(stats);
  if (fromStats.length > 0) return fromStats;
  const st = statusOf(devs);
  return st && st.letter !== "E" && st.letter !== "F" ? boardsFromDevs(devsRows(devs)) : [];
}

export function maxOrNull(values: number[]): number | null {
  return values.length === 0 ? null : Math.max(...values);
}
