import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Poller, type PollerOptions, type PollTarget } from "../../agent/devices/poller.ts";
import { NARROW_BELOW, nextSweepWidth, WIDEN_ABOVE } from "../../agent/devices/sweep-width.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";

const bounds = { min: 64, max: 256 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("nextSweepWidth", () => {
  test("a sweep done in under 40 % of the period narrows the next by a quarter, to the floor", () => {
    assert.equal(nextSweepWidth(256, 800, 5000, bounds), 192);
    assert.equal(nextSweepWidth(192, 800, 5000, bounds), 144);
    assert.equal(nextSweepWidth(81, 800, 5000, bounds), 64);
    assert.equal(nextSweepWidth(64, 10, 5000, bounds), 64);
  });

  test("a sweep over 60 % of the period doubles the next, to the pool's size", () => {
    assert.equal(nextSweepWidth(64, 3100, 5000, bounds), 128);
    assert.equal(nextSweepWidth(192, 9000, 5000, bounds), 256);
    assert.equal(nextSweepWidth(256, 9000, 5000, bounds), 256);
  });

  test("in between, the width holds, and a narrowed sweep lands in between", () => {
    assert.equal(nextSweepWidth(128, 2000, 5000, bounds), 128);
    assert.equal(nextSweepWidth(128, 3000, 5000, bounds), 128);
    // a sweep whose reads wait on the miners takes 4/3 as long a quarter narrower: under 60 %
    assert.ok(NARROW_BELOW * (4 / 3) < WIDEN_ABOVE);
  });
});

type R = { ok: boolean };

/** A poller of `targets` whose pool of 256 may narrow to 64, on a 400 ms period. */
function adaptive(targets: PollTarget<R>[], over: Partial<PollerOptions<R>> = {}): Poller<R> {
  return new Poller<R>({
    name: "test",
    targets,
    intervalMs: 400,
    concurrency: 256,
    minConcurrency: 64,
    timeoutMs: 2000,
    isFailure: () => false,
    onReading: () => {},
    onError: () => {},
    logger: silentLogger(),
    ...over,
  });
}

/** `n` devices answering after `latencyMs`, counting the most reads in flight at once (`peak`). */
function countedFleet(n: number) {
  const fleet = { targets: [] as PollTarget<R>[], inFlight: 0, peak: 0, latencyMs: 1 };
  fleet.targets = Array.from({ length: n }, (_, i) => ({
    id: `m${i}`,
    read: async () => {
      fleet.inFlight++;
      fleet.peak = Math.max(fleet.peak, fleet.inFlight);
      await sleep(fleet.latencyMs);
      fleet.inFlight--;
      return { ok: true };
    },
  }));
  return fleet;
}

describe("a poller with minConcurrency", () => {
  test("its scheduled sweeps narrow while reads answer fast and widen when they turn slow", async () => {
    const fleet = countedFleet(300);
    const widths: number[] = [];
    const peaks: number[] = [];
    const p = adaptive(fleet.targets, {
      onSweep: () => {
        peaks.push(fleet.peak);
        fleet.peak = 0;
        widths.push(p.width);
      },
    });
    assert.equal(p.width, 256, "the first sweep reads at the pool's size");
    p.start();
    try {
      const deadline = Date.now() + 10_000;
      while (p.width > 64 && Date.now() < deadline) await sleep(20);
      assert.equal(p.width, 64);
      // 256, 192, 144, 108, 81, 64: each sweep kept at most the width it was given
      assert.deepEqual(widths.slice(0, 5), [192, 144, 108, 81, 64]);
      assert.equal(peaks[0], 256);
      assert.ok(
        peaks.slice(1).every((n, i) => n <= widths[i]!),
        `peaks ${peaks} widths ${widths}`,
      );
      // the miners slow down: 300 reads of 80 ms at 64 in flight take 5 rounds, the last read
      // starting after 4 of them, 320 ms into a 400 ms period
      fleet.latencyMs = 80;
      const seen = widths.length;
      while (p.width === 64 && Date.now() < deadline) await sleep(20);
      assert.equal(p.width, 128);
      assert.ok(widths.length <= seen + 2, "widened after the first slow sweep");
    } finally {
      await p.stop();
    }
  });

  test("a read that hangs to its deadline does not hold the width: the queue emptied early", async () => {
    const targets = Array.from({ length: 200 }, (_, i) => ({
      id: `m${i}`,
      // the last one answers late, as a miner that is going away does
      read: async () => {
        if (i === 199) await sleep(300);
        return { ok: true };
      },
    }));
    const p = adaptive(targets);
    const stats = await p.sweep();
    assert.ok(stats.durationMs >= 300, `duration ${stats.durationMs}`);
    assert.ok(stats.queueMs < 100, `queue ${stats.queueMs}`);
    assert.equal(stats.inFlightMax, 200);
    p.start();
    const deadline = Date.now() + 5000;
    while (p.width === 256 && Date.now() < deadline) await sleep(20);
    await p.stop();
    assert.equal(p.width, 192, "narrowed though each sweep took 3/4 of the period");
  });

  test("scheduledSweep() sweeps as the period does: at its width, then adapts it (the bench's agent side)", async () => {
    const fleet = countedFleet(300);
    const p = adaptive(fleet.targets, { intervalMs: 60_000 });
    const first = await p.scheduledSweep();
    assert.equal(first.inFlightMax, 256);
    assert.equal(p.width, 192, "a quarter narrower after a sweep that queued for a sliver of the period");
    fleet.peak = 0;
    const second = await p.scheduledSweep();
    assert.equal(second.inFlightMax, 192);
    assert.ok(fleet.peak <= 192, `peak ${fleet.peak}`);
    assert.equal(p.width, 144);
    // a caller's own sweep() keeps the pool's size and leaves the width alone
    assert.equal((await p.sweep()).inFlightMax, 256);
    assert.equal(p.width, 144);
  });

  test("a bounded pool it cannot narrow (minConcurrency at or over it) reads at its size", async () => {
    const p = adaptive([{ id: "a", read: async () => ({ ok: true }) }], { intervalMs: 50, concurrency: 8 });
    p.start();
    await sleep(200);
    await p.stop();
    assert.ok(p.sweeps >= 2);
    assert.equal(p.width, 8);
  });
});
