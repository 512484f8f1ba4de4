// The outbox: order, persistence, the size bound (oldest telemetry first, never events).
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Outbox } from "../../agent/store/outbox.ts";

const path = () => join(mkdtempSync(join(tmpdir(), "wk-outbox-")), "s.db");

test("messages come back in order, survive a reopen, and leave when removed", () => {
  const p = path();
  const o = new Outbox(p, 1 << 20);
  o.open();
  for (let i = 0; i < 5; i++)
    o.add({ kind: i % 2 ? "event" : "telemetry", topic: "t", payload: Buffer.from(`m${i}`), qos: 1 });
  // a direct publish that failed rejoins at its own place
  const seq = o.takeSeq();
  o.add({ kind: "telemetry", topic: "t", payload: Buffer.from("m6"), qos: 1 });
  o.add({ seq, kind: "event", topic: "t", payload: Buffer.from("m5"), qos: 1 });
  o.close();
  const again = new Outbox(p, 1 << 20);
  again.open();
  assert.equal(again.messages, 7);
  const all = again.peek(100);
  assert.deepEqual(
    all.map((m) => m.payload.toString()),
    ["m0", "m1", "m2", "m3", "m4", "m5", "m6"],
  );
  again.remove(all.slice(0, 3).map((m) => m.seq));
  assert.equal(again.messages, 4);
  assert.deepEqual(
    again.peek(1).map((m) => m.payload.toString()),
    ["m3"],
  );
  // new sequence numbers continue after the stored ones
  again.add({ kind: "event", topic: "t", payload: Buffer.from("m7"), qos: 1 });
  assert.equal(again.peek(100).at(-1)?.payload.toString(), "m7");
  again.close();
});

test("over the bound: the oldest telemetry goes, events stay, drops are counted and kept", () => {
  const p = path();
  const o = new Outbox(p, 10_000);
  o.open();
  for (let i = 0; i < 100; i++) {
    const kind = i % 10 === 0 ? "event" : "telemetry";
    o.add({ kind, topic: "t", payload: Buffer.alloc(200, 97), qos: 1 });
  }
  assert.ok(o.sizeBytes <= 10_000, `${o.sizeBytes}`);
  const kinds = o.peek(1000);
  assert.equal(kinds.length, o.messages);
  // all 10 events are still there
  assert.equal(kinds.filter((m) => m.kind === "event").length, 10);
  const seqs = kinds.map((m) => m.seq);
  assert.deepEqual(
    [...seqs].sort((a, b) => a - b),
    seqs,
  );
  assert.equal(o.dropped, 100 - o.messages);
  const dropped = o.dropped;
  o.close();
  const again = new Outbox(p, 10_000);
  again.open();
  assert.equal(again.dropped, dropped);
  // only events: kept even over the bound
  for (let i = 0; i < 100; i++)
    again.add({ kind: "event", topic: "t", payload: Buffer.alloc(200, 97), qos: 1 });
  assert.ok(again.sizeBytes > 10_000);
  assert.equal(again.peek(10_000).filter((m) => m.kind === "event").length, 110);
  again.close();
});
