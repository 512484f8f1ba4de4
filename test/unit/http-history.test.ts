// The history store behind the status page chart: 10 s buckets (mean of the
// ticks in each), a bounded number of points per read, pruning by age.
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { HISTORY_BUCKET_MS, History } from "../../agent/store/history.ts";

function open(): History {
  const h = new History(join(mkdtempSync(join(tmpdir(), "wk-history-")), "state.db"));
  h.open();
  return h;
}

const T0 = Date.UTC(2026, 0, 1);

test("ticks within a bucket are averaged per field; nulls do not count", () => {
  const h = open();
  h.record(T0 + 1000, { powerW: 100, budgetW: 1000, aiW: null, miningW: 50, auxW: null });
  h.record(T0 + 3000, { powerW: 200, budgetW: 1000, aiW: 10, miningW: null, auxW: null });
  h.record(T0 + 11_000, { powerW: 400, budgetW: 900, aiW: 20, miningW: 70, auxW: 5 });
  const pts = h.read(5, T0 + 20_000);
  assert.deepEqual(pts, [
    { at: T0, powerW: 150, budgetW: 1000, aiW: 10, miningW: 50, auxW: null },
    { at: T0 + HISTORY_BUCKET_MS, powerW: 400, budgetW: 900, aiW: 20, miningW: 70, auxW: 5 },
  ]);
  h.close();
});

test("a week of history reads back as at most ~600 points, oldest first, means preserved", () => {
  const h = open();
  const week = 7 * 86_400_000;
  const end = T0 + week;
  // one tick a minute keeps the test quick; the read bounds points the same way
  for (let t = T0; t < end; t += 60_000) {
    h.record(t, { powerW: 1000, budgetW: 2000, aiW: 100, miningW: 800, auxW: 100 });
  }
  const pts = h.read(7 * 24 * 60, end);
  assert.ok(pts.length <= 601 && pts.length >= 550, `${pts.length} points`);
  assert.ok(pts.every((p, i) => i === 0 || p.at > pts[i - 1]!.at));
  assert.ok(pts.every((p) => p.powerW === 1000 && p.budgetW === 2000));
  const hour = h.read(60, end);
  assert.equal(hour.length, 60, "an hour at full resolution: every stored bucket");
  assert.equal(h.prune(end - 86_400_000) > 0, true);
  assert.ok(h.read(7 * 24 * 60, end).length <= 601);
  assert.equal(h.read(7 * 24 * 60, end)[0]!.at >= end - 86_400_000 - 20 * 60_000, true);
  h.close();
});

test("the bucket being filled survives a close and reopen", () => {
  const dir = mkdtempSync(join(tmpdir(), "wk-history-"));
  const h = new History(join(dir, "state.db"));
  h.open();
  h.record(T0 + 1000, { powerW: 10, budgetW: null, aiW: null, miningW: null, auxW: null });
  h.close();
  const again = new History(join(dir, "state.db"));
  again.open();
  assert.equal(again.read(1, T0 + 2000)[0]?.powerW, 10);
  again.close();
});
