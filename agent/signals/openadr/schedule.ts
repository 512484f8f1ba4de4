// Which OpenADR 3 event interval applies now, and what budget it asks for.
// Pure: the events (as the VTN serves them), when each was first seen (for
// starts of "now"), the VEN's name (for its randomisation), the SIMPLE level
// table and `now` are arguments.
//
// Intervals follow each other from the event's intervalPeriod.start unless
// they carry their own start; an interval's own duration wins over the
// event's. randomizeStart shifts an interval by a fraction of its range that
// is fixed per VEN, event and interval (a restart does not move it).
// IMPORT_CAPACITY_LIMIT is taken in the units its payload descriptor names
// (KW by default); SIMPLE levels 1–3 go through the configured table and level
// 0 asks for nothing. Of several active intervals the lowest budget wins.
import { createHash } from "node:crypto";
import { durationMs, isNowStart } from "./duration.ts";

interface OadrPeriod {
  start?: string | null;
  duration?: string | null;
  randomizeStart?: string | null;
}

interface OadrInterval {
  id: number;
  intervalPeriod?: OadrPeriod | null;
  payloads: Array<{ type: string; values: unknown[] }>;
}

export interface OadrEvent {
  id: string;
  programID: string;
  eventName?: string | null;
  priority?: number | null;
  intervalPeriod?: OadrPeriod | null;
  intervals: OadrInterval[];
  payloadDescriptors?: Array<{ payloadType?: string | null; units?: string | null }> | null;
  reportDescriptors?: Array<{ payloadType?: string | null }> | null;
}

/** One interval of one event, placed in time. */
export interface PlacedInterval {
  eventId: string;
  eventName: string | null;
  programID: string;
  intervalId: number;
  /** Epoch ms, randomisation applied; end = start + duration (Infinity when open-ended). */
  startMs: number;
  endMs: number;
  /** What it asks for: a budget in W, or null (SIMPLE 0, an unknown payload). */
  budgetW: number | null;
  what: string;
}

const UNIT_W: Record<string, number> = { W: 1, KW: 1000, MW: 1e6 };

/** A fixed fraction in [0, 1) per VEN, event and interval. */
function spread(ven: string, eventId: string, intervalId: number): number {
  const h = createHash("sha256").update(`${ven}\n${eventId}\n${intervalId}`).digest();
  return h.readUInt32BE(0) / 2 ** 32;
}

function budgetOf(
  e: OadrEvent,
  payloads: OadrInterval["payloads"],
  simpleLevels: ReadonlyMap<number, number>,
): { budgetW: number | null; what: string } {
  for (const p of payloads) {
    const v = p.values[0];
    if (p.type === "IMPORT_CAPACITY_LIMIT" && typeof v === "number" && v >= 0) {
      const units = (e.payloadDescriptors ?? []).find((d) => d.payloadType === p.type)?.units ?? "KW";
      const factor = UNIT_W[units.toUpperCase()];
      if (factor === undefined)
        return { budgetW: null, what: `IMPORT_CAPACITY_LIMIT in ${units}: units not understood` };
      return { budgetW: v * factor, what: `IMPORT_CAPACITY_LIMIT ${v} ${units}` };
    }
    if (p.type === "SIMPLE" && typeof v === "number") {
      if (v === 0) return { budgetW: null, what: "SIMPLE 0 (normal operation)" };
      const w = simpleLevels.get(v);
      return w === undefined
        ? {
            budgetW: null,
            what: `SIMPLE ${v}: no budget configured for this level (signals.openadr.simpleLevels)`,
          }
        : { budgetW: w, what: `SIMPLE ${v}` };
    }
  }
  return { budgetW: null, what: `no payload followed (${payloads.map((p) => p.type).join(", ") || "none"})` };
}

/** Every interval of the events, placed in time. */
export function placeIntervals(
  events: readonly OadrEvent[],
  opts: { venName: string; seenAt: (eventId: string) => number; simpleLevels: ReadonlyMap<number, number> },
): PlacedInterval[] {
  const out: PlacedInterval[] = [];
  for (const e of events) {
    const base = e.intervalPeriod ?? {};
    const baseStart = base.start
      ? isNowStart(base.start)
        ? opts.seenAt(e.id)
        : Date.parse(base.start)
      : opts.seenAt(e.id);
    let cursor = baseStart;
    for (const iv of e.intervals) {
      const p = iv.intervalPeriod ?? {};
      const start = p.start ? (isNowStart(p.start) ? opts.seenAt(e.id) : Date.parse(p.start)) : cursor;
      const dur = durationMs(p.duration ?? base.duration ?? "P9999Y") ?? Number.POSITIVE_INFINITY;
      const range = durationMs(p.randomizeStart ?? base.randomizeStart ?? "PT0S") ?? 0;
      const offset =
        range > 0 && Number.isFinite(range) ? Math.floor(spread(opts.venName, e.id, iv.id) * range) : 0;
      const b = budgetOf(e, iv.payloads, opts.simpleLevels);
      if (Number.isFinite(start)) {
        out.push({
          eventId: e.id,
          eventName: e.eventName ?? null,
          programID: e.programID,
          intervalId: iv.id,
          startMs: start + offset,
          endMs: start + offset + dur,
          budgetW: b.budgetW,
          what: b.what,
        });
      }
      cursor = start + dur;
    }
  }
  return out;
}

/** The interval in force now with the lowest budget, or null when none asks for one. */
export function activeInterval(intervals: readonly PlacedInterval[], now: number): PlacedInterval | null {
  let best: PlacedInterval | null = null;
  for (const iv of intervals) {
    if (iv.startMs > now || now >= iv.endMs || iv.budgetW === null) continue;
    if (!best || iv.budgetW < (best.budgetW ?? Number.POSITIVE_INFINITY)) best = iv;
  }
  return best;
}
