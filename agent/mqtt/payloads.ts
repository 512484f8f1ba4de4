// Payloads of the telemetry, state and event topics. Device telemetry is
// compact (a field list once, then one array per device) and chunked so that
// no message exceeds a bound: a broker's max packet size and a slow uplink
// both stay happy at 5,000 miners.
import type { SiteTick } from "../site-tick.ts";
import type { GpuNodeReading, MinerReading, SiteSnapshot } from "../state.ts";
import type { SiteEvent } from "../store/events.ts";

const iso = (ms: number) => new Date(ms).toISOString();
const round1 = (x: number | null | undefined) => (x == null ? null : Math.round(x * 10) / 10);

export function siteTelemetry(t: SiteTick) {
  const s = t.snapshot;
  return {
    at: iso(t.at),
    powerW: round1(s.powerW),
    powerSource: s.powerSource,
    budgetW: t.budget ? Math.round(t.budget.budgetW) : null,
    budgetReason: t.budget?.reason ?? null,
    budgetSource: t.budget?.source ?? null,
    classes: {
      ai: round1(s.classes.ai.powerW),
      mining: round1(s.classes.mining.powerW),
      aux: round1(s.classes.aux.powerW),
    },
    counts: s.counts,
    hashrateThs: round1(s.hashrateThs),
    meterOk: s.meter?.ok ?? null,
    mode: t.mode,
  };
}

export function eventPayload(e: SiteEvent) {
  return {
    id: e.id,
    at: iso(e.at),
    kind: e.kind,
    severity: e.severity,
    deviceId: e.deviceId,
    message: e.message,
    data: e.data,
  };
}

export const MINER_FIELDS = [
  "id",
  "state",
  "powerW",
  "hashrateThs",
  "powerLimitW",
  "chipTempMaxC",
  "ageS",
] as const;
export const GPU_FIELDS = ["id", "gpu", "powerW", "powerLimitW", "tempC", "utilPct", "ageS"] as const;
export const METER_FIELDS = ["id", "role", "ok", "powerW", "ageS"] as const;

export type DeviceKind = "miners" | "gpus" | "meters";

export function minerRows(
  entries: Iterable<{ id: string; reading: MinerReading | null }>,
  now: number,
): unknown[][] {
  const rows: unknown[][] = [];
  for (const { id, reading: r } of entries) {
    if (!r) {
      rows.push([id, null, null, null, null, null, null]);
      continue;
    }
    rows.push([
      id,
      r.state,
      r.powerW == null ? null : Math.round(r.powerW),
      round1(r.hashrateThs),
      r.powerLimitW == null ? null : Math.round(r.powerLimitW),
      round1(r.chipTempMaxC),
      Math.round((now - r.at) / 1000),
    ]);
  }
  return rows;
}

export function gpuRows(nodes: Iterable<[string, GpuNodeReading | null]>, now: number): unknown[][] {
  const rows: unknown[][] = [];
  for (const [id, r] of nodes) {
    if (!r) continue;
    for (const g of r.gpus) {
      rows.push([
        id,
        g.index,
        round1(g.powerW),
        round1(g.powerLimitW),
        g.tempC,
        g.utilPct,
        Math.round((now - r.at) / 1000),
      ]);
    }
  }
  return rows;
}

export function meterRows(snap: SiteSnapshot): unknown[][] {
  return snap.meters.map((m) => [m.id, m.role, m.ok, round1(m.powerW), m.ageS]);
}

/**
 * Splits rows into messages of at most maxBytes each (a single row larger
 * than the bound still goes out alone). Every chunk says which part it is, so
 * the central side can tell a complete cycle.
 */
export function chunkDevices(
  kind: DeviceKind,
  fields: readonly string[],
  rows: unknown[][],
  at: number,
  cycle: number,
  maxBytes: number,
): Buffer[] {
  const head = (part: number, parts: number) =>
    `{"at":"${iso(at)}","kind":"${kind}","cycle":${cycle},"part":${part},"parts":${parts},"fields":${JSON.stringify(fields)},"rows":[`;
  // the head's size with room for large part numbers
  const headBytes = Buffer.byteLength(head(999_999, 999_999)) + 2;
  const groups: string[][] = [];
  let cur: string[] = [];
  let size = headBytes;
  for (const row of rows) {
    const s = JSON.stringify(row);
    const add = Buffer.byteLength(s) + 1;
    if (cur.length > 0 && size + add > maxBytes) {
      groups.push(cur);
      cur = [];
      size = headBytes;
    }
    cur.push(s);
    size += add;
  }
  if (cur.length > 0 || groups.length === 0) groups.push(cur);
  return groups.map((g, i) => Buffer.from(`${head(i + 1, groups.length)}${g.join(",")}]}`));
}
