// The central side of `telemetry/devices`: rebuilds every device's fields from
// the last full refresh plus the deltas after it (which name a device by its
// index in that refresh), and says when that picture cannot be trusted — a
// sequence gap (a chunk lost), a refresh seen only in part, a stream joined
// between refreshes — until the next complete refresh. Pure:
// feed it each message's payload in the order they arrive; used by
// `wattkeeper tail-telemetry` and the tests.
import { z } from "zod";

const KINDS = ["miners", "gpus", "meters"] as const;
export type TelemetryKind = (typeof KINDS)[number];

const ChunkSchema = z
  .object({
    at: z.string(),
    kind: z.enum(KINDS),
    seq: z.number().int().min(1),
    cycle: z.number().int(),
    part: z.number().int().min(1),
    parts: z.number().int().min(1),
    full: z.boolean(),
    /** Full refresh: the index of this chunk's first row. */
    first: z.number().int().min(0).optional(),
    key: z.number().int().min(1),
    fields: z.array(z.string()).min(1),
    rows: z.array(z.array(z.unknown())),
    gone: z.array(z.number().int().min(0)),
  })
  .superRefine((c, ctx) => {
    const bad = (message: string): void => {
      ctx.issues.push({ code: "custom", message, input: c });
    };
    if (c.part > c.parts) bad(`part ${c.part} of ${c.parts}`);
    if (c.key > c.fields.length) bad(`key of ${c.key} fields, only ${c.fields.length} fields`);
    if (c.full && c.first === undefined) bad("a full refresh without `first`");
    for (const r of c.rows) {
      if (c.full && r.length !== c.fields.length) return bad(`a full row of ${r.length} values`);
      if (!c.full) {
        const ix = r[0];
        if (typeof ix !== "number" || !Number.isInteger(ix) || ix < 0 || (r.length - 1) % 2 !== 0)
          return bad("a delta row that is not a device index + pairs");
        for (let i = 1; i < r.length; i += 2) {
          const f = r[i];
          if (typeof f !== "number" || !Number.isInteger(f) || f < c.key || f >= c.fields.length)
            return bad(`a delta row with field index ${JSON.stringify(f)}`);
        }
      }
    }
  });
export type TelemetryChunk = z.infer<typeof ChunkSchema>;

/** One device as rebuilt: field name → value. */
export type DeviceFields = Record<string, unknown>;

export interface KindStatus {
  kind: TelemetryKind;
  /** True from a complete full refresh with no gap in it until the next gap. */
  synced: boolean;
  /** The last sequence number taken. */
  seq: number | null;
  cycle: number | null;
  at: string | null;
  lastFullAt: string | null;
  /** Gaps seen, and the chunks they lost in all. */
  gaps: number;
  lostChunks: number;
  devices: number;
}

/** What one message did. */
export type Applied =
  | {
      ok: true;
      kind: TelemetryKind;
      /** The chunk was the last part of its cycle. */
      complete: boolean;
      full: boolean;
      cycle: number;
      seq: number;
      /** Set when chunks before this one were lost: the sequence numbers expected and got. */
      gap: { expected: number; got: number } | null;
      /** The agent started again (a new sequence from a full refresh). */
      restarted: boolean;
      /** Devices this chunk changed, added or removed. */
      changed: number;
      /** Delta rows naming a device index the last refresh did not have (a refresh missed): not applied. */
      unknown: number;
    }
  | { ok: true; kind: TelemetryKind; duplicate: true; seq: number }
  | { ok: false; error: string };

interface KindState {
  devices: Map<string, DeviceFields>;
  /** Device key by its index in the last refresh (what deltas name). */
  byIndex: Array<string | undefined>;
  seq: number | null;
  synced: boolean;
  cycle: number | null;
  at: string | null;
  lastFullAt: string | null;
  gaps: number;
  lostChunks: number;
  /** The refresh under way: its cycle, the devices it named, and whether every part of it arrived so far. */
  refresh: { cycle: number; seen: Set<string>; clean: boolean } | null;
}

const keyOf = (values: readonly unknown[], key: number): string =>
  key === 1 ? String(values[0]) : JSON.stringify(values.slice(0, key));

export class TelemetryConsumer {
  private readonly kinds = new Map<TelemetryKind, KindState>();

  /** Takes one message of the topic (raw payload or parsed JSON). */
  apply(payload: Buffer | string | unknown): Applied {
    let raw: unknown = payload;
    if (Buffer.isBuffer(payload) || typeof payload === "string") {
      try {
        raw = JSON.parse(payload.toString());
      } catch {
        return { ok: false, error: "not JSON" };
      }
    }
    const parsed = ChunkSchema.safeParse(raw);
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      return { ok: false, error: `not a telemetry chunk: ${i?.path.join(".") || "message"}: ${i?.message}` };
    }
    return this.take(parsed.data);
  }

  private state(kind: TelemetryKind): KindState {
    let s = this.kinds.get(kind);
    if (!s) {
      s = {
        devices: new Map(),
        byIndex: [],
        seq: null,
        synced: false,
        cycle: null,
        at: null,
        lastFullAt: null,
        gaps: 0,
        lostChunks: 0,
        refresh: null,
      };
      this.kinds.set(kind, s);
    }
    return s;
  }

  private take(c: TelemetryChunk): Applied {
    const s = this.state(c.kind);
    const startsRefresh = c.full && c.part === 1;
    let gap: { expected: number; got: number } | null = null;
    let restarted = false;
    if (s.seq !== null && c.seq !== s.seq + 1) {
      if (c.seq <= s.seq) {
        // QoS 1 may deliver twice; a lower number that opens a refresh is an agent that started again
        if (!startsRefresh || c.seq !== 1) return { ok: true, kind: c.kind, duplicate: true, seq: c.seq };
        restarted = true;
      } else {
        gap = { expected: s.seq + 1, got: c.seq };
        s.gaps++;
        s.lostChunks += c.seq - s.seq - 1;
        s.synced = false;
        if (s.refresh) s.refresh.clean = false;
      }
    }
    s.seq = c.seq;
    s.cycle = c.cycle;
    s.at = c.at;
    let changed = 0;
    let unknown = 0;
    if (c.full) {
      if (startsRefresh) {
        s.refresh = { cycle: c.cycle, seen: new Set(), clean: true };
        s.byIndex = [];
      } else if (!s.refresh || s.refresh.cycle !== c.cycle) {
        s.refresh = { cycle: c.cycle, seen: new Set(), clean: false };
        s.byIndex = [];
      }
      const first = c.first ?? 0;
      c.rows.forEach((r, i) => {
        const k = keyOf(r, c.key);
        const d: DeviceFields = {};
        c.fields.forEach((f, j) => {
          d[f] = r[j] ?? null;
        });
        s.devices.set(k, d);
        s.byIndex[first + i] = k;
        s.refresh!.seen.add(k);
        changed++;
      });
      if (c.part === c.parts) {
        if (s.refresh.clean) {
          // a complete refresh is the whole fleet: what it did not name is gone
          for (const k of s.devices.keys()) {
            if (!s.refresh.seen.has(k)) {
              s.devices.delete(k);
              changed++;
            }
          }
          s.synced = true;
          s.lastFullAt = c.at;
        }
        s.refresh = null;
      }
    } else {
      for (const r of c.rows) {
        const k = s.byIndex[r[0] as number];
        const d = k === undefined ? undefined : s.devices.get(k);
        if (!d) {
          unknown++;
          continue;
        }
        for (let i = 1; i < r.length; i += 2) d[c.fields[r[i] as number]!] = r[i + 1] ?? null;
        changed++;
      }
      for (const ix of c.gone) {
        const k = s.byIndex[ix];
        if (k !== undefined && s.devices.delete(k)) changed++;
      }
      // a delta for a device this consumer has no refresh row for: a refresh was missed
      if (unknown > 0) s.synced = false;
    }
    return {
      ok: true,
      kind: c.kind,
      complete: c.part === c.parts,
      full: c.full,
      cycle: c.cycle,
      seq: c.seq,
      gap,
      restarted,
      changed,
      unknown,
    };
  }

  /** The rebuilt devices of a kind, in the order the agent first named them. */
  devices(kind: TelemetryKind): DeviceFields[] {
    return [...(this.kinds.get(kind)?.devices.values() ?? [])];
  }

  /** One device by its key values (a GPU: node id and index). */
  device(kind: TelemetryKind, ...key: unknown[]): DeviceFields | null {
    return this.kinds.get(kind)?.devices.get(keyOf(key, key.length)) ?? null;
  }

  status(kind: TelemetryKind): KindStatus {
    const s = this.kinds.get(kind);
    return {
      kind,
      synced: s?.synced ?? false,
      seq: s?.seq ?? null,
      cycle: s?.cycle ?? null,
      at: s?.at ?? null,
      lastFullAt: s?.lastFullAt ?? null,
      gaps: s?.gaps ?? 0,
      lostChunks: s?.lostChunks ?? 0,
      devices: s?.devices.size ?? 0,
    };
  }

  /** The kinds seen so far. */
  kindsSeen(): TelemetryKind[] {
    return KINDS.filter((k) => this.kinds.has(k));
  }
}
