// What a tick's actions write to the log: each action of a small tick, a summary of a large one.
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import { ActionLog, LOG_EACH_MAX } from "../../agent/control/action-log.ts";
import type { PlanAction } from "../../agent/control/types.ts";
import { createLogger } from "../../agent/runtime/logger.ts";

function capture() {
  const stream = new PassThrough();
  const lines: Array<Record<string, unknown> & { level: number; msg: string }> = [];
  stream.on("data", (d: Buffer) => {
    for (const l of d.toString().split("\n")) if (l.trim()) lines.push(JSON.parse(l));
  });
  return { lines, logger: createLogger({ destination: stream, level: "debug" }) };
}
const settle = () => new Promise((r) => setImmediate(r));
const INFO = 30;
const WARN = 40;
const DEBUG = 20;

const sleeps = (n: number): PlanAction[] =>
  Array.from({ length: n }, (_, i) => ({
    deviceId: `m-${i}`,
    kind: "sleep",
    expectedDeltaW: -3000,
    reason: "over budget",
  }));

test("a small tick logs each action as it begins and as it ends, and no summary", async () => {
  const { lines, logger } = capture();
  const actions = sleeps(3);
  const log = ActionLog.of(logger, actions);
  for (const [i, a] of actions.entries()) log.begun(a, i + 1);
  log.ended(actions[0]!, 1, { ok: true, reason: "confirmed" }, 1);
  log.ended(actions[1]!, 2, { ok: false, reason: "not confirmed within 30 s" }, 3);
  log.ended(actions[2]!, 3, { ok: true, reason: "confirmed" }, 1);
  log.close();
  await settle();
  assert.equal(lines.filter((l) => l.msg === "control action" && l.level === INFO).length, 3);
  assert.deepEqual(
    lines.filter((l) => l.msg !== "control action").map((l) => [l.level, l.msg]),
    [
      [INFO, "sleep m-0 confirmed"],
      [WARN, "sleep m-1 failed: not confirmed within 30 s"],
      [INFO, "sleep m-2 confirmed"],
    ],
  );
  assert.equal(lines.find((l) => l.msg.startsWith("sleep m-1"))?.attempts, 3);
});

test("a fleet-wide shed logs one line to begin and one to end; its first failures one by one, the rest at debug", async () => {
  const { lines, logger } = capture();
  const n = 1000;
  const actions = sleeps(n);
  const log = ActionLog.of(logger, actions);
  for (const [i, a] of actions.entries()) log.begun(a, i + 1);
  actions.forEach((a, i) => {
    // 25 failures over 12 distinct reasons: the summary counts 10 of them by name
    if (i < 25) log.ended(a, i + 1, { ok: false, reason: `unreachable (${i % 12})` }, 3);
    else if (i < n - 5) log.ended(a, i + 1, { ok: true, reason: "confirmed" }, 1);
  });
  log.close();
  await settle();
  const above = lines.filter((l) => l.level > DEBUG);
  assert.ok(n > LOG_EACH_MAX);
  assert.equal(above.length, 1 + 10 + 1, above.map((l) => l.msg).join("\n"));
  assert.match(above[0]!.msg, /^control actions: 1000 begin/);
  assert.deepEqual(above[0]!.kinds, { sleep: 1000 });
  assert.deepEqual(
    above.slice(1, 11).map((l) => l.device),
    Array.from({ length: 10 }, (_, i) => `m-${i}`),
  );
  const last = above[11]!;
  assert.equal(last.level, WARN);
  assert.equal(last.msg, "control actions: 970 confirmed, 25 failed of 1000");
  assert.equal(last.notSent, 5);
  const reasons = last.reasons as Record<string, number>;
  assert.equal(Object.keys(reasons).length, 11);
  assert.equal(reasons.other, 4, "reasons 10 and 11, twice each, are counted as other");
  assert.equal(
    Object.values(reasons).reduce((s, x) => s + x, 0),
    25,
  );
  // every action is still in the log, at debug
  assert.equal(lines.filter((l) => l.msg === "control action" && l.level === DEBUG).length, n);
  assert.equal(lines.filter((l) => l.level === DEBUG && l.msg.endsWith("confirmed")).length, 970);
});

test("a large tick without failures ends at info", async () => {
  const { lines, logger } = capture();
  const actions = sleeps(LOG_EACH_MAX + 1);
  const log = ActionLog.of(logger, actions);
  actions.forEach((a, i) => {
    log.begun(a, i + 1);
    log.ended(a, i + 1, { ok: true, reason: "confirmed" }, 1);
  });
  log.close();
  await settle();
  const above = lines.filter((l) => l.level > DEBUG);
  assert.deepEqual(
    above.map((l) => [l.level, l.msg]),
    [
      [INFO, `control actions: ${LOG_EACH_MAX + 1} begin (each at debug level; the ledger holds every one)`],
      [INFO, `control actions: ${LOG_EACH_MAX + 1} confirmed, 0 failed of ${LOG_EACH_MAX + 1}`],
    ],
  );
});
