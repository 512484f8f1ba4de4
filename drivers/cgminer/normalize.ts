// Reading CGMiner-API replies field by field: sections, STATUS, multi-command
// replies, numbers and hashrates. Firmware disagree on field names, units and
// types (bmminer sends "GHS 5s" as a string, "GHS av" as a number), so every
// value is read through toNumber() and every field is optional. Every dialect's
// normaliser reads through these; the stock one is reading.ts.
import type { Json } from "./repair.ts";

export type Row = Record<string, Json>;

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

export function toText(v: Json | undefined): string | null {
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
export function splitMulti(reply: Json, commands: readonly string[]): Record<string, Json> {
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

/** Lifetime averages: after a stop they decay like 1/uptime and never reach 0. Last resort only. */
const LIFETIME_AVG_FIELDS = ["GHS av", "MHS av", "THS av"];

/**
 * TH/s per unit of a hashrate field, by its `THS`/`GHS`/`MHS`/`KHS` prefix in any case; 0 when
 * the name has none. Char by char: this runs over every key of every summary and devs row of
 * every poll, where a slice or a regex match would allocate each time.
 */
function unitThsOf(k: string): number {
  if (k.length < 3 || (k.charCodeAt(1) | 0x20) !== 0x68 || (k.charCodeAt(2) | 0x20) !== 0x73) return 0; // "hs"
  switch (k.charCodeAt(0) | 0x20) {
    case 0x74: // t
      return 1;
    case 0x67: // g
      return 1e-3;
    case 0x6d: // m
      return 1e-6;
    case 0x6b: // k
      return 1e-9;
    default:
      return 0;
  }
}

/**
 * A short average: `<unit> <n>s|m` — bmminer `GHS 5s`, cgminer `MHS 5s`/`MHS 1m`,
 * bfgminer `MHS 20s` (its log interval), Whatsminer `MHS 1m`. The window in
 * seconds picks the shortest.
 */
const SHORT_AVG_RE = /^[TGMK]HS \d+(?:\.\d+)?[sm]$/i;

/** The window of a short average's name in seconds (`GHS 5s` → 5, `MHS 1m` → 60); NaN when it is not one. */
function shortAvgWindowS(k: string): number {
  // test, not exec: no match array; only the few names that pass are sliced
  if (!SHORT_AVG_RE.test(k)) return Number.NaN;
  const n = Number(k.slice(4, -1));
  return (k.charCodeAt(k.length - 1) | 0x20) === 0x6d ? n * 60 : n;
}

/**
 * The firmware's shortest average hashrate in TH/s; the lifetime average only
 * when the row has no short one at all. Null when the row has neither.
 */
export function hashrateThs(row: Row | undefined): number | null {
  if (!row) return null;
  let bestWindowS = Number.POSITIVE_INFINITY;
  let best: number | null = null;
  // for…in, not Object.keys: no key array per call
  for (const k in row) {
    const unitThs = unitThsOf(k);
    if (unitThs === 0) continue;
    const windowS = shortAvgWindowS(k);
    if (!(windowS < bestWindowS)) continue; // NaN (not a window) or no shorter
    const v = toNumber(row[k]);
    if (v === null) continue;
    bestWindowS = windowS;
    best = v * unitThs;
  }
  if (best !== null) return Math.max(0, best);
  for (const field of LIFETIME_AVG_FIELDS) {
    const v = toNumber(row[field]);
    if (v !== null) return Math.max(0, v * unitThsOf(field));
  }
  return null;
}
