// Tick duration percentiles over a ring of the last N ticks.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { TickTimes } from "../../agent/control/tick-times.ts";

describe("TickTimes", () => {
  test("null before the first tick; nearest-rank quantiles to 0.1 ms", () => {
    const t = new TickTimes(100);
    assert.deepEqual(t.quantiles(0.5, 0.99), [null, null]);
    for (let i = 100; i >= 1; i--) t.add(i + 0.04);
    assert.deepEqual(t.quantiles(0.5, 0.99, 1), [50, 99, 100]);
  });

  test("keeps only the last N ticks", () => {
    const t = new TickTimes(10);
    for (let i = 0; i < 10; i++) t.add(1000); // an old slow start
    for (let i = 0; i < 10; i++) t.add(5);
    assert.deepEqual(t.quantiles(0.99), [5]);
  });
});
