// Power and duration values as people write them in a site config: plain
// numbers (watts, seconds) or strings with a unit. Parsing is strict so a typo
// such as "3.5kw/h" or "5min" is an error instead of a silently wrong number.

const POWER_UNITS: Record<string, number> = { W: 1, kW: 1e3, KW: 1e3, MW: 1e6, GW: 1e9 };
const DURATION_UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

const NUMBER = String.raw`[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?`;
const POWER_RE = new RegExp(String.raw`^(${NUMBER})\s*(W|kW|KW|MW|GW)?$`);
const UNSIGNED = String.raw`(?:\d+(?:\.\d*)?|\.\d+)`;
const DURATION_PART_RE = new RegExp(String.raw`(${UNSIGNED})\s*(ms|s|m|h|d)`, "y");
const BARE_NUMBER_RE = new RegExp(`^${NUMBER}$`);

function show(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

/** Watts from a number (already watts) or a string such as "3.5kW", "24MW", "500 W", "1.2GW". */
export function parsePowerW(v: number | string): number {
  const fail = (): never => {
    throw new Error(`expected a power like 3500, "3.5kW" or "24MW", got ${show(v)}`);
  };
  if (typeof v === "number") {
    if (!Number.isFinite(v)) fail();
    return v;
  }
  if (typeof v !== "string") return fail();
  const m = POWER_RE.exec(v.trim());
  if (!m) return fail();
  const w = Number(m[1]) * (POWER_UNITS[m[2] ?? "W"] ?? 1);
  // Round away float noise from the multiplication (0.1 * 1e6 = 100000.00000000001).
  return Number.isFinite(w) ? roundTiny(w) : fail();
}

/**
 * Seconds from a number (already seconds) or a string such as "30s", "5m", "2h", "500ms",
 * or a sum of parts like "1h30m". A bare numeric string counts as seconds.
 */
export function parseDurationS(v: number | string): number {
  const fail = (): never => {
    throw new Error(`expected a duration like 30, "30s", "5m", "2h" or "500ms", got ${show(v)}`);
  };
  if (typeof v === "number") {
    if (!Number.isFinite(v)) fail();
    return v;
  }
  if (typeof v !== "string") return fail();
  const s = v.trim();
  if (BARE_NUMBER_RE.test(s)) return Number(s);
  if (s === "") return fail();
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    DURATION_PART_RE.lastIndex = pos;
    const m = DURATION_PART_RE.exec(s);
    if (!m) return fail();
    total += Number(m[1]) * (DURATION_UNITS[m[2] ?? "s"] ?? 1);
    pos = DURATION_PART_RE.lastIndex;
    while (s[pos] === " ") pos++;
  }
  return Number.isFinite(total) ? roundTiny(total) : fail();
}

function roundTiny(x: number): number {
  const r = Math.round(x * 1e6) / 1e6;
  return Math.abs(r - x) < 1e-6 ? r : x;
}

function trimNumber(x: number, digits: number): string {
  const s = x.toFixed(digits);
  // only decimals are trimmed: "100" stays "100"
  return s.includes(".") ? s.replace(/\.?0+$/, "") : s;
}

/** Human form of a power for summaries and messages: "24 MW", "3.5 kW", "350 W". */
export function formatPowerW(w: number): string {
  const a = Math.abs(w);
  if (a >= 1e9) return `${trimNumber(w / 1e9, 3)} GW`;
  if (a >= 1e6) return `${trimNumber(w / 1e6, 3)} MW`;
  if (a >= 1e3) return `${trimNumber(w / 1e3, 3)} kW`;
  return `${trimNumber(w, 1)} W`;
}

/**
 * Human form of a hashrate given in TH/s, in the unit that fits it: "104 TH/s",
 * "1.23 PH/s", "2.44 MH/s" (a CPU miner), "0 TH/s". For display only: machine
 * outputs carry the full number.
 */
export function formatHashrateThs(ths: number): string {
  const a = Math.abs(ths);
  if (a === 0) return "0 TH/s";
  const units: Array<[number, string]> = [
    [1e6, "EH/s"],
    [1e3, "PH/s"],
    [1, "TH/s"],
    [1e-3, "GH/s"],
    [1e-6, "MH/s"],
    [1e-9, "kH/s"],
  ];
  const [scale, unit] = units.find(([u]) => a >= u) ?? [1e-12, "H/s"];
  const v = ths / scale;
  return `${trimNumber(v, Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2)} ${unit}`;
}

/** Human form of a duration: "500 ms", "30 s", "5 min", "2 h", "1 h 30 min". */
export function formatDurationS(s: number): string {
  if (s < 1 && s > 0) return `${trimNumber(s * 1000, 1)} ms`;
  if (s < 60 || !Number.isInteger(s)) return `${trimNumber(s, 3)} s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const parts: string[] = [];
  if (h) parts.push(`${h} h`);
  if (m) parts.push(`${m} min`);
  if (sec) parts.push(`${sec} s`);
  return parts.join(" ");
}
