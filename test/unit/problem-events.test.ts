// Problems raised and cleared as events: two checks in a row either way, so a
// flapping reading does not write an event each way every sweep.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ProblemWatch } from "../../agent/site/problem-events.ts";
import type { Problem } from "../../agent/site/problems.ts";

const hot: Problem = {
  kind: "hot",
  severity: "warning",
  id: "m-1",
  location: "container-A",
  since: null,
  message: "chips at 93 °C",
  fix: "check its fans",
};
const meter: Problem = {
  ...hot,
  kind: "meter-stale",
  severity: "critical",
  id: "pcc",
  message: "site meter stale",
};

test("raised after two checks, cleared after two checks without it, with how long it lasted", () => {
  const w = new ProblemWatch();
  assert.deepEqual(w.note([hot], 0), []);
  const raised = w.note([hot, meter], 5_000);
  assert.deepEqual(
    raised.map((e) => [e.kind, e.deviceId, e.severity]),
    [["problem-raised", "m-1", "warning"]],
  );
  assert.match(raised[0]!.message, /m-1: chips at 93 °C — check its fans/);
  assert.deepEqual(
    w.note([hot, meter], 10_000).map((e) => [e.kind, e.deviceId, e.severity]),
    [["problem-raised", "pcc", "alarm"]],
  );
  assert.deepEqual(w.note([meter], 15_000), [], "one check without it is not enough");
  const cleared = w.note([meter], 20_000);
  assert.deepEqual(
    cleared.map((e) => [e.kind, e.deviceId, e.data?.seconds]),
    [["problem-cleared", "m-1", 15]],
  );
});

test("a problem seen once and gone is never raised; one back before it cleared stays raised", () => {
  const w = new ProblemWatch();
  w.note([hot], 0);
  assert.deepEqual(w.note([], 5_000), []);
  assert.deepEqual(w.note([], 10_000), []);
  w.note([meter], 15_000);
  w.note([meter], 20_000);
  w.note([], 25_000);
  assert.deepEqual(w.note([meter], 30_000), [], "flapped back: no second raise");
});
