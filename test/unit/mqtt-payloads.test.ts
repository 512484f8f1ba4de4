// Device telemetry chunks stay under their bound and lose no row; the
// reconnect backoff grows, is capped, and is jittered.
import assert from "node:assert/strict";
import { test } from "node:test";
import { backoffDelayMs } from "../../agent/mqtt/link.ts";
import { chunkDevices, MINER_FIELDS } from "../../agent/mqtt/payloads.ts";

test("5,000 miners in chunks of at most the bound, every row once, parts numbered", () => {
  const rows = Array.from({ length: 5000 }, (_, i) => [`miner-${i}`, "hashing", 3250, 110.2, null, 71.5, 1]);
  const max = 16 * 1024;
  const chunks = chunkDevices("miners", MINER_FIELDS, rows, Date.parse("2026-01-01T00:00:00Z"), 7, max);
  assert.ok(chunks.length > 1);
  const ids: string[] = [];
  chunks.forEach((c, i) => {
    assert.ok(c.length <= max, `chunk ${i}: ${c.length} bytes`);
    const m = JSON.parse(c.toString());
    assert.equal(m.part, i + 1);
    assert.equal(m.parts, chunks.length);
    assert.equal(m.cycle, 7);
    assert.equal(m.at, "2026-01-01T00:00:00.000Z");
    for (const r of m.rows) ids.push(r[0]);
  });
  assert.deepEqual(
    ids,
    rows.map((r) => r[0]),
  );
  // nothing to report is still one (empty) message
  const empty = chunkDevices("gpus", ["id"], [], 0, 1, max);
  assert.equal(empty.length, 1);
  assert.deepEqual(JSON.parse(empty[0]!.toString()).rows, []);
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
