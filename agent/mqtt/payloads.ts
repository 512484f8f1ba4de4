// Payloads of the telemetry, state and event topics. Device telemetry is
// compact (a field list once, then one array per device, or per device only
// what moved: telemetry-delta.ts) and chunked so that no message exceeds a
// bound: a broker's max packet size and a slow uplink both stay happy at 5,000
// miners. Also the shapes of the status, state and response payloads and the
// inbound command envelope: topics.ts maps each topic kind to one of them.
import { z } from "zod";
import type { GpuNodeReading, MeterStatus, MinerReading } from "../site/state.ts";
import type { SiteTick } from "../site/tick.ts";
import type { SiteEvent } from "../store/events.ts";
import type { ChannelSite } from "./types.ts";

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

export type SiteTelemetry = ReturnType<typeof siteTelemetry>;

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

export type EventPayload = ReturnType<typeof eventPayload>;

/** The retained status: the birth, and the LWT / clean stop. */
export type StatusPayload = { online: false } | { online: true; version: string; startedAt: string };

/** The retained state: what was asked (lease, mode) and what is in force (budget, curtailed devices, AI caps). */
export function stateBody(t: SiteTick, site: Pick<ChannelSite, "budgetLease" | "mode" | "curtailment">) {
  const lease = site.budgetLease;
  const cur = site.curtailment();
  return {
    desired: {
      lease: lease ? { watts: lease.watts, expiresAt: iso(lease.expiresAt), reason: lease.reason } : null,
      mode: site.mode,
    },
    applied: {
      budgetW: t.budget ? Math.round(t.budget.budgetW) : null,
      budgetSource: t.budget?.source ?? null,
      budgetReason: t.budget?.reason ?? null,
      mode: t.mode,
      // ids only: at 5,000 miners the retained message stays small; when each began is in the events
      curtailed: {
        sleep: cur.curtailed.filter((c) => c.how === "sleep").map((c) => c.id),
        powerLimit: cur.curtailed.filter((c) => c.how === "power-limit").map((c) => c.id),
      },
      aiCaps: cur.aiCaps.map((c) => ({ id: c.id, gpu: c.gpu, originalW: c.originalW })),
    },
  };
}

export type StateBody = ReturnType<typeof stateBody>;
/** As published: stamped when it goes out. */
export type RetainedState = { at: string } & StateBody;

/** A command's answer on …/response/<name> (and the MQTT 5 response topic). */
export type CommandResponse =
  | { id: string | null; name: string; ok: false; error: string }
  | { id: string; name: string; ok: true; appliedAt: string; detail?: string };

/** The signed envelope every inbound command comes in (its body is checked by name: commands.ts). */
export const EnvelopeSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, "expected an id of 1-128 letters, digits, . _ : -"),
  issuedAt: z.iso.datetime(),
  keyName: z.string().min(1).max(128),
  body: z.unknown(),
  sig: z.string().min(1).max(200),
});
export type Envelope = z.infer<typeof EnvelopeSchema>;

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

export function meterRows(meters: readonly MeterStatus[]): unknown[][] {
  return meters.map((m) => [m.id, m.role, m.ok, round1(m.powerW), m.ageS]);
}

/** Per kind: how many leading fields of a row identify a device (a GPU is its node and index). */
export const DEVICE_KEY: Record<DeviceKind, number> = { miners: 1, gpus: 2, meters: 1 };

interface TelemetryHead {
  kind: DeviceKind;
  fields: readonly string[];
  /** DEVICE_KEY of the kind. */
  key: number;
  full: boolean;
  at: number;
  cycle: number;
}

/**
 * Frames one cycle of device telemetry (a full refresh or a delta, see
 * telemetry-delta.ts) as messages of at most maxBytes each (a single row larger
 * than the bound still goes out alone). Every chunk carries its kind's next
 * sequence number (from firstSeq, one per chunk) so a consumer sees a lost one,
 * and its part of the cycle so it knows when a refresh is complete; a refresh's
 * chunk says the index of its first row (`first`), so the rows of the parts that
 * did arrive keep their indexes when one is lost. A cycle with nothing to say is
 * still one (empty) chunk: the consumer learns the agent is alive and the
 * sequence goes on.
 */
declare const framed: unique symbol;
/** One framed chunk of device telemetry, ready for the wire. */
export type TelemetryChunk = Buffer & { readonly [framed]: true };

export interface ChunkInput {
  head: TelemetryHead;
  rows: readonly unknown[][];
  /** Indexes (in the last refresh) of devices gone since. */
  gone: readonly number[];
  /** The kind's next sequence number. */
  firstSeq: number;
  maxBytes: number;
}

export function chunkTelemetry({ head: h, rows, gone, firstSeq, maxBytes }: ChunkInput): TelemetryChunk[] {
  type Part = { seq: number; part: number; parts: number; first: number };
  const head = ({ seq, part, parts, first }: Part) =>
    `{"at":"${iso(h.at)}","kind":"${h.kind}","seq":${seq},"cycle":${h.cycle},"part":${part},"parts":${parts},"full":${h.full},${h.full ? `"first":${first},` : ""}"key":${h.key},"fields":${JSON.stringify(h.fields)},"rows":[`;
  // the head's size with room for large numbers, and the `],"gone":[` … `]}` around the lists
  const headBytes =
    Buffer.byteLength(
      head({ seq: Number.MAX_SAFE_INTEGER, part: 999_999, parts: 999_999, first: 999_999_999 }),
    ) + 14;
  const groups: Array<{ first: number; rows: string[]; gone: string[] }> = [];
  let cur = { first: 0, rows: [] as string[], gone: [] as string[] };
  let size = headBytes;
  let n = 0;
  const add = (s: string, into: "rows" | "gone") => {
    const bytes = Buffer.byteLength(s) + 1;
    if (cur.rows.length + cur.gone.length > 0 && size + bytes > maxBytes) {
      groups.push(cur);
      cur = { first: n, rows: [], gone: [] };
      size = headBytes;
    }
    cur[into].push(s);
    size += bytes;
  };
  for (const r of rows) {
    add(JSON.stringify(r), "rows");
    n++;
  }
  for (const g of gone) add(String(g), "gone");
  if (cur.rows.length + cur.gone.length > 0 || groups.length === 0) groups.push(cur);
  return groups.map(
    (g, i) =>
      Buffer.from(
        `${head({ seq: firstSeq + i, part: i + 1, parts: groups.length, first: g.first })}${g.rows.join(",")}],"gone":[${g.gone.join(",")}]}`,
      ) as TelemetryChunk,
  );
}
