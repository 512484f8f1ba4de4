// Device telemetry chunks stay under their bound, lose no row and number
// themselves (part of the cycle, sequence of the kind); the reconnect backoff
// grows, is capped, and is jittered.
import assert from "node:assert/strict";
import { test } from "node:test";
import { backoffDelayMs } from "../../agent/mqtt/link.ts";
import { chunkTelemetry, MINER_FIELDS } from "../../agent/mqtt/payloads.ts";
import { encodePayload, Topics } from "../../agent/mqtt/topics.ts";

test("5,000 miners in chunks of at most the bound, every row once, parts and sequence numbered", () => {
  const rows = Array.from({ length: 5000 }, (_, i) => [`miner-${i}`, "hashing", 3250, 110.2, null, 71.5, 1]);
  const gone = Array.from({ length: 300 }, (_, i) => 6000 + i);
  const max = 16 * 1024;
  const at = Date.parse("2026-01-01T00:00:00Z");
  const head = { kind: "miners", fields: MINER_FIELDS, key: 1, full: true, at, cycle: 7 } as const;
  const chunks = chunkTelemetry({ head, rows, gone, firstSeq: 41, maxBytes: max });
  assert.ok(chunks.length > 1);
  const ids: string[] = [];
  const goneIds: number[] = [];
  chunks.forEach((c, i) => {
    assert.ok(c.length <= max, `chunk ${i}: ${c.length} bytes`);
    const m = JSON.parse(c.toString());
    assert.equal(m.part, i + 1);
    assert.equal(m.parts, chunks.length);
    assert.equal(m.seq, 41 + i);
    assert.equal(m.cycle, 7);
    assert.equal(m.full, true);
    // a refresh's chunk says where its rows start
    assert.equal(m.first, ids.length);
    assert.equal(m.key, 1);
    assert.equal(m.at, "2026-01-01T00:00:00.000Z");
    assert.deepEqual(m.fields, MINER_FIELDS);
    for (const r of m.rows) ids.push(r[0]);
    for (const g of m.gone) goneIds.push(g);
  });
  assert.deepEqual(
    ids,
    rows.map((r) => r[0]),
  );
  assert.deepEqual(goneIds, gone);
  // nothing to report is still one (empty) message, with its sequence number
  const empty = chunkTelemetry({
    head: { ...head, kind: "gpus", fields: ["id", "gpu"], key: 2 },
    rows: [],
    gone: [],
    firstSeq: 9,
    maxBytes: max,
  });
  assert.equal(empty.length, 1);
  const e = JSON.parse(empty[0]!.toString());
  assert.deepEqual([e.rows, e.gone, e.seq, e.part, e.parts, e.first], [[], [], 9, 1, 1, 0]);
  // a delta has no `first`
  const d = JSON.parse(
    chunkTelemetry({
      head: { ...head, full: false },
      rows: [[3, 2, 3100]],
      gone: [7],
      firstSeq: 10,
      maxBytes: max,
    })[0]!.toString(),
  );
  assert.deepEqual([d.first, d.rows, d.gone], [undefined, [[3, 2, 3100]], [7]]);
});

test("backoff: exponential, capped, jittered within [d/2, d]", () => {
  const b = { baseMs: 1000, maxMs: 60_000 };
  assert.equal(
    backoffDelayMs(0, b, () => 0),
    500,
  );
  assert.equal(
    backoffDelayMs(0, b, () => 1),
    1000,
  );
  assert.equal(
    backoffDelayMs(3, b, () => 1),
    8000,
  );
  assert.equal(
    backoffDelayMs(20, b, () => 1),
    60_000,
  );
  assert.equal(
    backoffDelayMs(1000, b, () => 0),
    30_000,
  );
  const spread = new Set(Array.from({ length: 50 }, () => backoffDelayMs(4, b)));
  assert.ok(spread.size > 10);
});

test("a payload goes only on its own kind of topic (the topic → payload map is checked by tsc)", () => {
  const t = new Topics("wattkeeper", "s1");
  assert.equal(encodePayload(t.status, { online: false }).toString(), '{"online":false}');
  // @ts-expect-error: the retained state topic does not carry a status payload
  encodePayload(t.state, { online: false });
  // @ts-expect-error: a command response is not an event
  encodePayload(t.events, { id: "x", name: "ping", ok: false, error: "e" });
});
