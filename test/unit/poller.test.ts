import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Poller, type PollTarget } from "../../agent/devices/poller.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";

type R = { ok: boolean };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function poller(targets: PollTarget<R>[], over: Partial<ConstructorParameters<typeof Poller<R>>[0]> = {}) {
  const readings: Array<[string, R]> = [];
  const errors: Array<[string, string]> = [];
  const p = new Poller<R>({
    name: "test",
    targets,
    intervalMs: 1000,
    concurrency: 4,
    timeoutMs: 500,
    isFailure: (r) => !r.ok,
    onReading: (id, r) => readings.push([id, r]),
    onError: (id, e) => errors.push([id, e.message]),
    logger: silentLogger(),
    random: () => 0.5,
    ...over,
  });
  return { p, readings, errors };
}

describe("Poller", () => {
  test("never more reads in flight than the concurrency bound", async () => {
    let inFlight = 0;
    let peak = 0;
    const targets = Array.from({ length: 40 }, (_, i) => ({
      id: `m${i}`,
      read: async () => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await sleep(5); // a read's own latency, so that reads overlap: nothing to wait for
        inFlight--;
        return { ok: true };
      },
    }));
    const { p, readings } = poller(targets, { concurrency: 7 });
    const stats = await p.sweep();
    assert.equal(peak, 7);
    assert.equal(readings.length, 40);
    assert.equal(stats.attempted, 40);
  });

  test("one hung device costs one slot for its deadline, not the sweep", async () => {
    const targets: PollTarget<R>[] = [
      { id: "hung", read: () => new Promise<R>(() => {}) },
      ...Array.from({ length: 20 }, (_, i) => ({ id: `m${i}`, read: async () => ({ ok: true }) })),
    ];
    const { p, readings, errors } = poller(targets, { concurrency: 2, timeoutMs: 150 });
    const stats = await p.sweep();
    assert.equal(readings.length, 20);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.[0], "hung");
    assert.ok(stats.durationMs < 400, `sweep took ${stats.durationMs} ms`);
  });

  test("a failing device backs off exponentially with jitter and recovers", async () => {
    let now = 0;
    let healthy = false;
    const { p } = poller([{ id: "m", read: async () => ({ ok: healthy }) }], {
      now: () => now,
      backoff: { baseMs: 1000, maxMs: 8000 },
    });
    const attemptsAt: number[] = [];
    for (now = 0; now <= 30_000; now += 250) {
      const s = await p.sweep();
      if (s.attempted) attemptsAt.push(now);
    }
    // first failure retried at once (next sweep), then 1 s, 2 s, 4 s, 8 s… × jitter 0.75
    assert.deepEqual(attemptsAt.slice(0, 5), [0, 250, 1000, 2500, 5500]);
    const gaps = attemptsAt.slice(1).map((t, i) => t - attemptsAt[i]!);
    assert.ok(Math.max(...gaps) <= 6250, "capped at maxMs × jitter");
    assert.ok(p.failures("m") > 4);
    healthy = true;
    now += 10_000;
    await p.sweep();
    assert.equal(p.failures("m"), 0);
  });

  test("a throwing read is caught and reported, the sweep goes on", async () => {
    const { p, readings, errors } = poller([
      {
        id: "bad",
        read: async () => {
          throw new Error("boom");
        },
      },
      { id: "good", read: async () => ({ ok: true }) },
    ]);
    await p.sweep();
    assert.deepEqual(errors, [["bad", "boom"]]);
    assert.equal(readings.length, 1);
  });

  test("stop() aborts reads in flight and leaves no timer", async () => {
    let aborted = false;
    let started!: () => void;
    const inFlight = new Promise<void>((r) => {
      started = r;
    });
    const { p } = poller([
      {
        id: "slow",
        read: (signal) =>
          new Promise<R>((resolve) => {
            started();
            signal.addEventListener("abort", () => {
              aborted = true;
              resolve({ ok: false });
            });
          }),
      },
    ]);
    p.start();
    await inFlight;
    await p.stop();
    assert.equal(aborted, true);
  });
});
