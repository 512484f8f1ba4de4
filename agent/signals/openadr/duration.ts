// ISO 8601 durations as OpenADR 3 writes them ("PT1H", "P1DT30M", "PT0.5S"),
// in milliseconds. Years and months are taken as 365 and 30 days (they only
// appear in "P9999Y", the spec's "forever", which is Infinity here).
const RE =
  /^(-?)P(?=\d|T\d)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)([DW]))?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

const MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds of a duration, Infinity for P9999Y; null when it is not an ISO 8601 duration. */
export function durationMs(text: string): number | null {
  const m = RE.exec(text.trim());
  if (!m) return null;
  const [, sign, y, mo, dw, unit, h, mi, s] = m;
  if (y !== undefined && Number(y) >= 9999) return Number.POSITIVE_INFINITY;
  const days = Number(y ?? 0) * 365 + Number(mo ?? 0) * 30 + Number(dw ?? 0) * (unit === "W" ? 7 : 1);
  const ms = days * MS.d + Number(h ?? 0) * MS.h + Number(mi ?? 0) * MS.m + Number(s ?? 0) * MS.s;
  return sign === "-" ? -ms : ms;
}

/** "0001-01-01" (with or without a time) means "now" in OpenADR 3 interval periods. */
export function isNowStart(start: string): boolean {
  return start.startsWith("0001-01-01");
}
