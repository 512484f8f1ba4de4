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

/**
 * The number after `prefix` in a key (`fan3` → 3 for "fan"), or -1 when the key is not the
 * prefix and digits alone. Char by char: this runs over every field of a ~100-field stats row
 * several times per detail read, where a regex match would allocate its result each time.
 */
export function numberAfter(key: string, prefix: string): number {
  if (key.length <= prefix.length || !key.startsWith(prefix)) return -1;
  let n = 0;
  for (let i = prefix.length; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    n = n * 10 + (c - 0x30);
  }
  return n;
}

function hasChainKey(r: Row): boolean {
  // for…in, not Object.keys: no key array per call
  for (const k in r)
    if (numberAfter(k, "fan") >= 0 || numberAfter(k, "temp") >= 0 || numberAfter(k, "chain_rate") >= 0)
      return true;
  return false;
}

/** Antminer `stats` keeps its data in the STATS row that has chain/fan fields (STATS[1] on stock). */
export function minerStatsRow(stats: readonly Row[]): Row | undefined {
  return stats.find((r) => "fan1" in r || "temp1" in r || "chain_rate1" in r || hasChainKey(r)) ?? stats[1];
}

/**
 * The values of `<prefix><n>` fields (`fan1`, `fan2`… for "fan"), above zero, in the order of
 * n. A stats row has ~100 fields and this runs three times per detail read of every miner: no
 * key array, no match or pair per field (for…in and numberAfter), a handful of values kept in
 * order as they come.
 */
export function numberedValues(row: Row | undefined, prefix: string): number[] {
  const values: number[] = [];
  if (!row) return values;
  const order: number[] = [];
  for (const k in row) {
    const index = numberAfter(k, prefix);
    if (index < 0) continue;
    const n = toNumber(row[k]);
    // zeros are placeholders for absent chains/fans
    if (n === null || n <= 0) continue;
    let at = order.length;
    while (at > 0 && order[at - 1]! > index) at--;
    order.splice(at, 0, index);
    values.splice(at, 0, n);
  }
  return values;
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
  for (const k in row) {
    if (!k.startsWith("chain_")) continue;
    const n = Math.max(numberAfter(k, "chain_rate"), numberAfter(k, "chain_acn"));
    if (n >= 0) numbers.add(n);
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
