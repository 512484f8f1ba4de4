// Device telemetry by exception: from one poll cycle's full rows, the frame to
// send — every row on a full refresh, otherwise per device only the fields that
// moved beyond their deadband since they were last sent (the device's index in
// the last refresh, then [fieldIndex, value] pairs), and the indexes of devices
// that went away. Pure: no clock, no I/O; the channel decides when a refresh is
// due and the chunker (payloads.ts) frames the result.
import type { Deadband, TelemetryConfig } from "../../config/schema.ts";

/** Which deadband of `mqtt.telemetry.deadband` a field takes; a field not listed (state, role, ok) is sent on any change. */
const FIELD_DEADBAND: Record<string, keyof TelemetryConfig["deadband"]> = {
  powerW: "powerW",
  hashrateThs: "hashrateThs",
  powerLimitW: "powerLimitW",
  chipTempMaxC: "tempC",
  tempC: "tempC",
  utilPct: "utilPct",
  ageS: "ageS",
};

export interface DeltaSpec {
  /** Field names of a row, key fields first. */
  fields: readonly string[];
  /** How many leading fields identify a device (miners, meters: the id; GPUs: node id and GPU index). */
  key: number;
  /** Per field (same index as `fields`): its deadband, or null = sent on any change (keys: unused). */
  deadbands: ReadonlyArray<Deadband | null>;
}

export function deltaSpec(fields: readonly string[], key: number, cfg: TelemetryConfig): DeltaSpec {
  return {
    fields,
    key,
    deadbands: fields.map((f, i) => {
      const which = FIELD_DEADBAND[f];
      return i < key || which === undefined ? null : cfg.deadband[which];
    }),
  };
}

/**
 * True when `next` differs from the value last sent by more than the deadband
 * ("beyond": a move of exactly the deadband is held back, as OPC UA and the
 * Sparkplug export do). Anything that is not two numbers — a state, a flag, a
 * value appearing or going null — counts on any change.
 */
export function moved(sent: unknown, next: unknown, db: Deadband | null): boolean {
  if (typeof sent === "number" && typeof next === "number" && db !== null) {
    const limit = db.kind === "abs" ? db.value : db.value * Math.abs(sent);
    return Math.abs(next - sent) > limit;
  }
  return sent !== next;
}

export interface DeltaFrame {
  full: boolean;
  /**
   * Full: whole rows, each device's index its position here. Delta: the device's
   * index in the last refresh, then [fieldIndex, value] pairs, flat.
   */
  rows: unknown[][];
  /** Indexes of devices sent before and absent now; always empty on a full refresh. */
  gone: number[];
}

interface Sent {
  index: number;
  values: unknown[];
  cycle: number;
}

const keyOf = (row: readonly unknown[], key: number): string =>
  key === 1 ? String(row[0]) : JSON.stringify(row.slice(0, key));

/**
 * Remembers what was last sent per device, so the next cycle sends only what
 * moved. One per device kind. A delta names a device by its position in the
 * last full refresh (a number of a few bytes instead of its id); a device that
 * was not in it makes the cycle a full refresh instead (devices appear seldom:
 * a GPU node back online). Everything a frame says is taken as delivered in
 * order (the outbox keeps the order; a lost chunk is the consumer's gap, and the
 * next full refresh repairs it).
 */
export class DeltaEncoder {
  /**
   * Per device key: its index in the last refresh, the row as the consumer holds it (values
   * last sent), and the last cycle that had the device.
   */
  private sent = new Map<string, Sent>();
  /** Counts cycles, so a device's presence is a stamp on its entry rather than a set built per cycle. */
  private cycle = 0;

  constructor(readonly spec: DeltaSpec) {}

  /** The frame for this cycle's rows (each a full row in `spec.fields` order); full when asked or when a device is new. */
  next(rows: readonly unknown[][], full: boolean): DeltaFrame {
    const { key, deadbands } = this.spec;
    if (!full) {
      const delta = this.delta(rows, key, deadbands);
      if (delta) return delta;
    }
    this.sent = new Map(rows.map((r, index) => [keyOf(r, key), { index, values: [...r], cycle: 0 }]));
    return { full: true, rows: rows as unknown[][], gone: [] };
  }

  /** Null when a device is new (the caller sends a refresh); nothing is remembered then. */
  private delta(
    rows: readonly unknown[][],
    key: number,
    deadbands: DeltaSpec["deadbands"],
  ): DeltaFrame | null {
    const found: Sent[] = [];
    for (const row of rows) {
      const prev = this.sent.get(keyOf(row, key));
      if (!prev) return null;
      found.push(prev);
    }
    const out: unknown[][] = [];
    // a stamp, not a Set of the indexes seen: at 5,000 miners that Set was a V8 large object every cycle
    const cycle = ++this.cycle;
    rows.forEach((row, r) => {
      const prev = found[r]!;
      prev.cycle = cycle;
      let delta: unknown[] | null = null;
      for (let i = key; i < row.length; i++) {
        if (moved(prev.values[i], row[i], deadbands[i] ?? null)) {
          delta ??= [prev.index];
          delta.push(i, row[i]);
          prev.values[i] = row[i];
        }
      }
      if (delta) out.push(delta);
    });
    const gone: number[] = [];
    for (const [k, prev] of this.sent) {
      if (prev.cycle === cycle) continue;
      gone.push(prev.index);
      this.sent.delete(k);
    }
    return { full: false, rows: out, gone };
  }

  /** Devices the consumer is believed to hold. */
  get size(): number {
    return this.sent.size;
  }
}
