// Device telemetry by exception without I/O: the deadband rule, the encoder's
// frames (only what moved, new devices in full, vanished ones named), the
// mqtt.telemetry config, and the consumer that rebuilds the fleet — exact at
// every full refresh, within each field's deadband in between, and honest
// about gaps, duplicates, restarts and refreshes seen in part.
import assert from "node:assert/strict";
import { test } from "node:test";
import { chunkTelemetry, GPU_FIELDS, METER_FIELDS, MINER_FIELDS } from "../../agent/mqtt/payloads.ts";
import { TelemetryConsumer, type TelemetryKind } from "../../agent/mqtt/telemetry-consumer.ts";
import { DeltaEncoder, deltaSpec, moved } from "../../agent/mqtt/telemetry-delta.ts";
import { type Deadband, MqttSchema, TelemetrySchema } from "../../config/schema.ts";
import { mulberry32 } from "../../sim/prng.ts";

const cfg = TelemetrySchema.parse({});
const abs = (value: number): Deadband => ({ kind: "abs", value });
const pct = (value: number): Deadband => ({ kind: "pct", value });

test("deadband: a move beyond it counts, a move of exactly it does not; non-numbers on any change", () => {
  assert.equal(moved(70, 71, abs(1)), false);
  assert.equal(moved(70, 71.1, abs(1)), true);
  assert.equal(moved(70, 68.9, abs(1)), true);
  assert.equal(moved(3000, 3030, pct(0.01)), false);
  assert.equal(moved(3000, 3031, pct(0.01)), true);
  // relative to the value last sent: from 0 any move counts
  assert.equal(moved(0, 0.1, pct(0.02)), true);
  assert.equal(moved(5, 5, abs(0)), false);
  assert.equal(moved(5, 6, abs(0)), true);
  assert.equal(moved(null, 0, abs(100)), true);
  assert.equal(moved(3000, null, pct(0.5)), true);
  assert.equal(moved("hashing", "sleeping", null), true);
  assert.equal(moved(true, true, null), false);
  assert.equal(moved(true, false, null), true);
});

test("config: defaults, percentages and numbers, and clear refusals", () => {
  assert.equal(cfg.fullEveryS, 300);
  assert.deepEqual(cfg.deadband.powerW, pct(0.01));
  assert.deepEqual(cfg.deadband.hashrateThs, pct(0.02));
  assert.deepEqual(cfg.deadband.tempC, abs(1));
  assert.deepEqual(cfg.deadband.powerLimitW, abs(0));
  const t = TelemetrySchema.parse({ fullEveryS: "10m", deadband: { powerW: 50, tempC: "2.5 %", ageS: 0 } });
  assert.equal(t.fullEveryS, 600);
  assert.deepEqual(t.deadband.powerW, abs(50));
  assert.deepEqual(t.deadband.tempC, pct(0.025));
  assert.deepEqual(t.deadband.ageS, abs(0));
  assert.equal(TelemetrySchema.parse({ fullEveryS: 0 }).fullEveryS, 0);
  const units = TelemetrySchema.parse({
    deadband: { powerW: "0.5kW", powerLimitW: "10 W", ageS: "1m", hashrateThs: "1.5" },
  });
  assert.deepEqual(units.deadband.powerW, abs(500));
  assert.deepEqual(units.deadband.powerLimitW, abs(10));
  assert.deepEqual(units.deadband.ageS, abs(60));
  assert.deepEqual(units.deadband.hashrateThs, abs(1.5));
  const refused = (v: unknown) => {
    const r = TelemetrySchema.safeParse(v);
    assert.equal(r.success, false, JSON.stringify(v));
    return r.error!.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
  };
  assert.match(
    refused({ deadband: { powerW: "1 percent" } }),
    /deadband\.powerW: expected a power like .*, or a percentage like "2%"/,
  );
  assert.match(
    refused({ deadband: { tempC: "warm" } }),
    /deadband\.tempC: expected a number like 1 or a percentage/,
  );
  assert.match(refused({ deadband: { powerW: "-5W" } }), /deadband\.powerW: must be a number ≥ 0/);
  assert.match(refused({ deadband: { powerW: "150%" } }), /deadband\.powerW: .*"150%"/);
  assert.match(refused({ deadband: { tempC: -1 } }), /deadband\.tempC: must be a number ≥ 0/);
  assert.match(refused({ deadband: { voltageV: 1 } }), /voltageV/);
  assert.match(refused({ fullEveryS: "soon" }), /fullEveryS/);
  // the block sits under mqtt, with its defaults when left out
  const m = MqttSchema.parse({ url: "mqtt://127.0.0.1:1883" });
  assert.deepEqual(m.telemetry, cfg);
});

test("every field of every kind has its deadband: numbers by their measure, states and flags on any change", () => {
  const miners = deltaSpec(MINER_FIELDS, 1, cfg);
  assert.deepEqual(miners.deadbands, [
    null,
    null,
    cfg.deadband.powerW,
    cfg.deadband.hashrateThs,
    cfg.deadband.powerLimitW,
    cfg.deadband.tempC,
    cfg.deadband.ageS,
  ]);
  const gpus = deltaSpec(GPU_FIELDS, 2, cfg);
  assert.deepEqual(gpus.deadbands, [
    null,
    null,
    cfg.deadband.powerW,
    cfg.deadband.powerLimitW,
    cfg.deadband.tempC,
    cfg.deadband.utilPct,
    cfg.deadband.ageS,
  ]);
  const meters = deltaSpec(METER_FIELDS, 1, cfg);
  assert.deepEqual(meters.deadbands, [null, null, null, cfg.deadband.powerW, cfg.deadband.ageS]);
});

test("encoder: a refresh sends every row; then only what moved, by index; a vanished one by index; a new one brings a refresh", () => {
  const enc = new DeltaEncoder(deltaSpec(MINER_FIELDS, 1, cfg));
  const a = ["m-1", "hashing", 3300, 110, null, 70, 0];
  const b = ["m-2", "hashing", 3200, 100, 3000, 65.5, 1];
  assert.deepEqual(enc.next([a, b], true), { full: true, rows: [a, b], gone: [] });
  // within every deadband: nothing to say
  assert.deepEqual(enc.next([[...a.slice(0, 2), 3330, 112, null, 71, 1], b], false), {
    full: false,
    rows: [],
    gone: [],
  });
  // a slow drift adds up against the value last sent (3300), not the last seen; m-1 is index 0
  const drift = enc.next([["m-1", "hashing", 3334, 112, null, 71, 1], b], false);
  assert.deepEqual(drift.rows, [[0, 2, 3334]]);
  // a state, a limit appearing, a temperature beyond 1 °C; the order of the rows does not matter
  const f = enc.next([b, ["m-1", "sleeping", 3334, 112, 2500, 72.5, 1]], false);
  assert.deepEqual(f.rows, [[0, 1, "sleeping", 4, 2500, 5, 72.5]]);
  // m-2 (index 1) went away
  const g = enc.next([["m-1", "sleeping", 3334, 112, 2500, 72.5, 1]], false);
  assert.deepEqual(g, { full: false, rows: [], gone: [1] });
  assert.equal(enc.size, 1);
  // a device the last refresh did not have: this cycle is a refresh (new indexes), nothing half-remembered
  const c = ["m-3", null, null, null, null, null, null];
  const h = enc.next([["m-1", "sleeping", 3334, 112, 2500, 72.5, 1], c], false);
  assert.equal(h.full, true);
  assert.deepEqual(h.rows, [["m-1", "sleeping", 3334, 112, 2500, 72.5, 1], c]);
  assert.deepEqual(enc.next([["m-1", "hashing", 3334, 112, 2500, 72.5, 1], c], false).rows, [
    [0, 1, "hashing"],
  ]);
});

test("encoder: a GPU is its node and index in the refresh's rows", () => {
  const enc = new DeltaEncoder(deltaSpec(GPU_FIELDS, 2, cfg));
  enc.next(
    [
      ["gpu-1", 0, 650, 700, 60, 99, 0],
      ["gpu-1", 1, 640, 700, 61, 98, 0],
    ],
    true,
  );
  const f = enc.next([["gpu-1", 1, 500, 700, 61, 80, 0]], false);
  assert.deepEqual(f.rows, [[1, 2, 500, 5, 80]]);
  assert.deepEqual(f.gone, [0]);
});

// ---------------------------------------------------------------- encoder → chunks → consumer

type Row = unknown[];

/** A fleet that wanders: noisy power and hashrate, drifting temperatures, now and then a state change, a device coming or going. */
function fleet(n: number, seed: number) {
  const rand = mulberry32(seed);
  const rows = new Map<string, Row>();
  let next = 0;
  const add = () => {
    const id = `m-${next++}`;
    rows.set(id, [id, "hashing", 3300, 110, rand() < 0.2 ? 3000 : null, 70, 0]);
  };
  for (let i = 0; i < n; i++) add();
  return {
    rows: () => [...rows.values()].map((r) => [...r]),
    step() {
      for (const r of rows.values()) {
        r[2] = Math.round(3300 * (1 + (rand() - 0.5) * 0.04));
        r[3] = Math.round(110 * (1 + (rand() - 0.5) * 0.06) * 10) / 10;
        r[5] = Math.round(((r[5] as number) + (rand() - 0.5) * 0.8) * 10) / 10;
        r[6] = rand() < 0.9 ? 0 : Math.floor(rand() * 30);
        if (rand() < 0.01) r[1] = r[1] === "hashing" ? "sleeping" : "hashing";
      }
      if (rand() < 0.03) add();
      if (rand() < 0.1) rows.delete([...rows.keys()][Math.floor(rand() * rows.size)]!);
    },
  };
}

/** Checks the consumer against the truth: exactly after a refresh, within each deadband after a delta. */
function compare(consumer: TelemetryConsumer, truth: Row[], exact: boolean, what: string) {
  const spec = deltaSpec(MINER_FIELDS, 1, cfg);
  const got = consumer.devices("miners");
  assert.equal(got.length, truth.length, `${what}: device count`);
  for (const r of truth) {
    const d = consumer.device("miners", r[0]);
    assert.ok(d, `${what}: ${r[0]} missing`);
    const values = MINER_FIELDS.map((f) => d[f]);
    if (exact) assert.deepEqual(values, r, `${what}: ${r[0]}`);
    else
      MINER_FIELDS.forEach((f, i) => {
        assert.equal(moved(values[i], r[i], spec.deadbands[i] ?? null), false, `${what}: ${r[0]}.${f}`);
      });
  }
}

test("encoder → chunks → consumer: exact at every refresh, within the deadband between, over 300 cycles", () => {
  const f = fleet(200, 7);
  const enc = new DeltaEncoder(deltaSpec(MINER_FIELDS, 1, cfg));
  const consumer = new TelemetryConsumer();
  let seq = 1;
  let bytes = 0;
  for (let cycle = 1; cycle <= 300; cycle++) {
    f.step();
    const truth = f.rows();
    const full = cycle % 60 === 1;
    const frame = enc.next(truth, full);
    // small chunks: every cycle of a refresh has many parts
    const chunks = chunkTelemetry({
      head: { kind: "miners", fields: MINER_FIELDS, key: 1, full: frame.full, at: cycle * 5000, cycle },
      rows: frame.rows,
      gone: frame.gone,
      firstSeq: seq,
      maxBytes: 2048,
    });
    seq += chunks.length;
    for (const c of chunks) {
      bytes += c.length;
      const a = consumer.apply(c);
      assert.ok(a.ok && "complete" in a && a.gap === null, JSON.stringify(a));
    }
    // a new device makes its cycle a refresh too
    if (full) assert.equal(frame.full, true);
    compare(consumer, truth, frame.full, `cycle ${cycle}`);
    assert.equal(consumer.status("miners").synced, true);
  }
  assert.equal(consumer.status("miners").gaps, 0);
  // the point of it: far fewer bytes than 300 full cycles (~45 B a row)
  assert.ok(bytes / 300 / 200 < 20, `${(bytes / 300 / 200).toFixed(1)} B per device per cycle`);
});

function stream(kind: TelemetryKind = "miners") {
  const fields = kind === "gpus" ? GPU_FIELDS : kind === "meters" ? METER_FIELDS : MINER_FIELDS;
  const key = kind === "gpus" ? 2 : 1;
  const enc = new DeltaEncoder(deltaSpec(fields, key, cfg));
  let seq = 1;
  let cycle = 0;
  return {
    next(rows: Row[], full: boolean, maxBytes = 32 * 1024) {
      const frame = enc.next(rows, full);
      cycle++;
      const c = chunkTelemetry({
        head: { kind, fields, key, full: frame.full, at: cycle * 1000, cycle },
        rows: frame.rows,
        gone: frame.gone,
        firstSeq: seq,
        maxBytes,
      });
      seq += c.length;
      return c;
    },
  };
}

const row = (id: string, state: string, powerW: number) => [id, state, powerW, 100, null, 70, 0];

test("consumer: a lost chunk is a gap; the picture is unsynced until a complete refresh", () => {
  const s = stream();
  const c = new TelemetryConsumer();
  for (const m of s.next([row("a", "hashing", 3000), row("b", "hashing", 3000)], true)) c.apply(m);
  assert.equal(c.status("miners").synced, true);
  const lost = s.next([row("a", "sleeping", 100), row("b", "hashing", 3000)], false);
  assert.equal(lost.length, 1);
  const after = s.next([row("a", "sleeping", 100), row("b", "faulted", 0)], false);
  const r = c.apply(after[0]!);
  assert.ok(r.ok && "gap" in r);
  assert.deepEqual(r.gap, { expected: 2, got: 3 });
  assert.deepEqual(c.status("miners"), {
    kind: "miners",
    synced: false,
    seq: 3,
    cycle: 3,
    at: after[0] && JSON.parse(after[0].toString()).at,
    lastFullAt: c.status("miners").lastFullAt,
    gaps: 1,
    lostChunks: 1,
    devices: 2,
  });
  // the lost state of a is still the old one: the consumer says so instead of guessing
  assert.equal(c.device("miners", "a")?.state, "hashing");
  assert.equal(c.device("miners", "b")?.state, "faulted");
  for (const m of s.next([row("a", "sleeping", 100), row("b", "faulted", 0)], true)) c.apply(m);
  assert.equal(c.status("miners").synced, true);
  assert.equal(c.device("miners", "a")?.state, "sleeping");
});

test("consumer: a refresh seen in part removes nothing; a complete one removes what it did not name", () => {
  const s = stream();
  const c = new TelemetryConsumer();
  const many = Array.from({ length: 60 }, (_, i) => row(`m-${i}`, "hashing", 3000));
  for (const m of s.next(many, true, 512)) c.apply(m);
  assert.equal(c.devices("miners").length, 60);
  // the next refresh names only 30, and its second part is lost
  const partial = s.next(many.slice(0, 30), true, 512);
  assert.ok(partial.length > 2);
  partial.forEach((m, i) => {
    if (i !== 1) c.apply(m);
  });
  assert.equal(c.devices("miners").length, 60);
  assert.equal(c.status("miners").synced, false);
  for (const m of s.next(many.slice(0, 30), true, 512)) c.apply(m);
  assert.equal(c.devices("miners").length, 30);
  assert.equal(c.status("miners").synced, true);
});

test("consumer: duplicates ignored, a restarted agent taken, a stream joined mid-way unsynced, garbage refused", () => {
  const s = stream();
  const c = new TelemetryConsumer();
  const first = s.next([row("a", "hashing", 3000)], true);
  c.apply(first[0]!);
  const d = s.next([row("a", "sleeping", 90)], false)[0]!;
  c.apply(d);
  const dup = c.apply(d);
  assert.ok(dup.ok && "duplicate" in dup);
  assert.equal(c.status("miners").seq, 2);
  // the agent starts again: sequence 1, a refresh
  const again = stream().next([row("z", "hashing", 3000)], true);
  const r = c.apply(again[0]!);
  assert.ok(r.ok && "restarted" in r && r.restarted && r.gap === null);
  assert.deepEqual(
    c.devices("miners").map((x) => x.id),
    ["z"],
  );
  // joined between refreshes: a delta names devices by an index it has no refresh for; nothing applied, not synced
  const late = stream();
  late.next([row("a", "hashing", 3000)], true);
  const c2 = new TelemetryConsumer();
  const j = c2.apply(late.next([row("a", "sleeping", 90)], false)[0]!);
  assert.ok(j.ok && "unknown" in j && j.unknown === 1);
  assert.equal(c2.status("miners").synced, false);
  assert.equal(c2.device("miners", "a"), null);
  // what is not a chunk is refused with a reason, and changes nothing
  for (const [bad, why] of [
    ["{", /not JSON/],
    [JSON.stringify({ kind: "miners" }), /not a telemetry chunk: at/],
    [JSON.stringify({ ...JSON.parse(d.toString()), seq: 3, rows: [[0, 99, 1]] }), /field index 99/],
    [JSON.stringify({ ...JSON.parse(d.toString()), seq: 3, rows: [[0, 2]] }), /device index \+ pairs/],
    [JSON.stringify({ ...JSON.parse(d.toString()), seq: 3, rows: [["a", 2, 1]] }), /device index \+ pairs/],
    [JSON.stringify({ ...JSON.parse(d.toString()), seq: 3, gone: ["a"] }), /gone/],
    [JSON.stringify({ ...JSON.parse(first[0]!.toString()), seq: 3, rows: [["a"]] }), /full row of 1/],
    [JSON.stringify({ ...JSON.parse(first[0]!.toString()), seq: 3, first: undefined }), /without `first`/],
  ] as const) {
    const x = c2.apply(bad);
    assert.ok(!x.ok && why.test(x.error), `${bad}: ${JSON.stringify(x)}`);
  }
  assert.equal(c2.status("miners").seq, 2, "the refused ones took no sequence number");
});

test("consumer: GPUs by node and index, meters with their flags", () => {
  const g = stream("gpus");
  const c = new TelemetryConsumer();
  for (const m of g.next(
    [
      ["n1", 0, 650, 700, 60, 99, 0],
      ["n1", 1, 640, 700, 61, 98, 0],
    ],
    true,
  ))
    c.apply(m);
  for (const m of g.next([["n1", 0, 300, 350, 60, 99, 0]], false)) c.apply(m);
  assert.deepEqual(c.device("gpus", "n1", 0), {
    id: "n1",
    gpu: 0,
    powerW: 300,
    powerLimitW: 350,
    tempC: 60,
    utilPct: 99,
    ageS: 0,
  });
  assert.equal(c.device("gpus", "n1", 1), null);
  const m = stream("meters");
  for (const x of m.next([["pcc", "site", true, 1_000_000, 0]], true)) c.apply(x);
  for (const x of m.next([["pcc", "site", false, 1_000_000, 12]], false)) c.apply(x);
  assert.deepEqual(c.device("meters", "pcc"), {
    id: "pcc",
    role: "site",
    ok: false,
    powerW: 1_000_000,
    ageS: 12,
  });
  assert.deepEqual(c.kindsSeen(), ["gpus", "meters"]);
});
