// The first action of each device, written a chunk of devices per commit as the
// fan-out reaches it (agent/control/action-rows.ts FirstActionRows).
import assert from "node:assert/strict";
import { test } from "node:test";
import { FirstActionRows } from "../../agent/control/action-rows.ts";
import type { PlanAction } from "../../agent/control/types.ts";

const group = (i: number): PlanAction[] => [
  { kind: "sleep", deviceId: `m${i}`, expectedDeltaW: -3000, reason: "shed" } as PlanAction,
];

test("rows are written a chunk at a time, each before its first id is asked for", () => {
  const groups = Array.from({ length: 1100 }, (_, i) => group(i));
  const chunks: number[] = [];
  let next = 1;
  const rows = new FirstActionRows(groups, (chunk) => {
    chunks.push(chunk.length);
    return chunk.map(() => next++);
  });
  assert.equal(rows.idOf(0), 1);
  assert.deepEqual(chunks, [512], "only the first chunk so far");
  assert.equal(rows.idOf(511), 512);
  assert.deepEqual(chunks, [512]);
  assert.equal(rows.idOf(512), 513);
  assert.equal(rows.idOf(1099), 1100);
  assert.deepEqual(chunks, [512, 512, 76]);
});

test("a chunk that cannot be written leaves its devices to begin alone; a tick of one device writes nothing", () => {
  const groups = Array.from({ length: 600 }, (_, i) => group(i));
  let calls = 0;
  const rows = new FirstActionRows(groups, (chunk) => {
    calls++;
    return calls === 1 ? null : chunk.map((_, k) => k + 1);
  });
  assert.equal(rows.idOf(3), undefined);
  assert.equal(rows.idOf(512), 1);
  const one = new FirstActionRows([group(0)], () => assert.fail("no batch for one device"));
  assert.equal(one.idOf(0), undefined);
});
