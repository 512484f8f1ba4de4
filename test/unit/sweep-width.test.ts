import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Poller, type PollerOptions, type PollTarget } from "../../agent/devices/poller.ts";
import {
  LOOP_SATURATED,
  LOOP_TARGET,
  NARROW_BELOW,
  nextSweepWidth,
  WIDEN_ABOVE,
} from "../../agent/devices/sweep-width.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";

const bounds = { min: 64, max: 256 };
/** A loop with room to spare over the queue: the reads waited on the miners. */
const idle = 0.2;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("nextSweepWidth", () => {
  test("a sweep done in under 40 % of the period narrows the next by a quarter, to the floor", () => {
    assert.equal(nextSweepWidth(256, 800, 5000, idle, bounds), 192);
    assert.equal(nextSweepWidth(192, 800, 5000, idle, bounds), 144);
    assert.equal(nextSweepWidth(81, 800, 5000, idle, bounds), 64);
    assert.equal(nextSweepWidth(64, 10, 5000, idle, bounds), 64);
  });

  test("a sweep over 60 % of the period doubles the next, to the pool's size", () => {
    assert.equal(nextSweepWidth(64, 3100, 5000, idle, bounds), 128);
    assert.equal(nextSweepWidth(192, 9000, 5000, idle, bounds), 256);
    assert.equal(nextSweepWidth(256, 9000, 5000, idle, bounds), 256);
  });

  test("in between, the width holds, and a narrowed sweep lands in between", () => {
    assert.equal(nextSweepWidth(128, 2000, 5000, idle, bounds), 128);
    assert.equal(nextSweepWidth(128, 3000, 5000, idle, bounds), 128);
    // a sweep whose reads wait on the miners takes 4/3 as long a quarter narrower: under 60 %
    assert.ok(NARROW_BELOW * (4 / 3) < WIDEN_ABOVE);
  });

  test("a loop busy 90 % of the queue or more narrows the width, however long the queue", () => {
    assert.equal(nextSweepWidth(256, 2500, 5000, 0.97, bounds), 192);
    assert.equal(nextSweepWidth(256, 4000, 5000, 0.97, bounds), 192);
    assert.equal(nextSweepWidth(128, 9000, 5000, LOOP_SATURATED, bounds), 96);
    assert.equal(nextSweepWidth(64, 4000, 5000, 0.99, bounds), 64);
  });

  test("over 60 % of the period, a loop with some room widens as far as 80 % busy, by at least a tenth", () => {
    // busy 0.4 or less: double; 0.5: 8/5; 0.7: 8/7; 0.75: 16/15, too little to step
    assert.equal(nextSweepWidth(64, 4000, 5000, 0.4, bounds), 128);
    assert.equal(nextSweepWidth(64, 4000, 5000, 0.5, bounds), 102);
    assert.equal(nextSweepWidth(112, 4000, 5000, 0.7, bounds), 128);
    assert.equal(nextSweepWidth(112, 4000, 5000, 0.75, bounds), 112);
    // a width a quarter narrower than one that saturated the loop widens back short of it
    assert.ok(LOOP_TARGET / (LOOP_SATURATED * 0.75) < 4 / 3);
  });

  test("a modelled fleet settles on one width whatever limits it: the miners, the loop, or both", () => {
    // n reads of latencyMs each and cpuMs of the loop's time each: the sweep reads at the rate
    // of the slower of the places (width / latency) and the loop (1 / cpu)
    const settle = (n: number, latencyMs: number, cpuMs: number) => {
      let width = 256;
      const widths: number[] = [];
      for (let i = 0; i < 40; i++) {
        const perMs = Math.min(width / latencyMs, 1 / cpuMs);
        width = nextSweepWidth(width, n / perMs, 5000, perMs * cpuMs, bounds);
        widths.push(width);
      }
      assert.equal(new Set(widths.slice(-10)).size, 1, `${n}/${latencyMs}/${cpuMs}: ${widths}`);
      return width;
    };
    assert.equal(settle(20_000, 0.5, 0.12), 64, "loopback: the loop is the limit, the floor is enough");
    assert.equal(settle(20_000, 50, 0.05), 256, "slow miners and a loop with room: the pool's size");
    assert.equal(settle(300, 1, 0.01), 64, "a small fast fleet");
    // the loop saturates between 100 and 200 in flight: the width ends where it has some room
    const both = settle(20_000, 15, 0.1);
    assert.ok(both >= 96 && both < 150, `width ${both}`);
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
    assert.equal(stats.loopBusy, 0, "every read had a place from the start: no queue");
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

  test("a sweep whose reads queue for the loop, not for places, narrows though it takes most of the period", async () => {
    // each read keeps the loop busy 1.5 ms: 300 of them queue about 450 ms of a 400 ms period
    const targets = Array.from({ length: 300 }, (_, i) => ({
      id: `m${i}`,
      read: async () => {
        const until = performance.now() + 1.5;
        while (performance.now() < until);
        return { ok: true };
      },
    }));
    const p = adaptive(targets);
    const first = await p.scheduledSweep();
    assert.ok(first.queueMs > 400 * WIDEN_ABOVE, `queue ${first.queueMs}`);
    assert.ok(first.loopBusy >= LOOP_SATURATED, `loop ${first.loopBusy}`);
    assert.equal(p.width, 192);
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
