// A slow or wedged miner against the real read path: a reply later than the
// read deadline is a classified timeout, a merely slow one still reads, and
// neither holds the sweep longer than the deadline.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Poller } from "../../agent/devices/poller.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { createMiner } from "../../drivers/cgminer/miner.ts";
import type { MinerReading } from "../../drivers/types.ts";
import { startSimSite } from "../../sim/site.ts";

let sim: Awaited<ReturnType<typeof startSimSite>>;
const hosts = Array.from({ length: 20 }, (_, i) => `127.141.0.${i + 1}`);

before(async () => {
  sim = await startSimSite({
    miners: hosts.map((host, i) => ({
      id: `s${i}`,
      host,
      port: 4028,
      // s0 wedged (answers after 4 s), s1 slow but within the deadline
      replyDelayMs: i === 0 ? 4000 : i === 1 ? 150 : 0,
    })),
    meters: [],
    seed: 5,
  });
});
after(() => sim.stop());

test("a wedged miner times out alone; the sweep ends at the deadline", async () => {
  const readings = new Map<string, MinerReading>();
  const poller = new Poller<MinerReading>({
    name: "slow",
    targets: hosts.map((host, i) => {
      const miner = createMiner({ host, port: 4028 }, "cgminer", { exchange: { readTimeoutMs: 600 } });
      return { id: `s${i}`, read: (signal: AbortSignal) => miner.read(signal) };
    }),
    intervalMs: 60_000,
    concurrency: 4,
    timeoutMs: 5000,
    isFailure: (r) => r.state === "unreachable",
    onReading: (id, r) => readings.set(id, r),
    onError: () => {},
    logger: silentLogger(),
  });
  const stats = await poller.sweep();
  assert.ok(stats.durationMs < 1500, `sweep took ${stats.durationMs} ms`);
  assert.equal(readings.get("s0")?.state, "unreachable");
  assert.match(readings.get("s0")?.reason ?? "", /WK_CGMINER_TIMEOUT/);
  assert.equal(readings.get("s1")?.state, "hashing");
  assert.equal([...readings.values()].filter((r) => r.state === "hashing").length, 19);
  // the wedged one backs off; the next sweep does not wait for it again
  const next = await poller.sweep();
  assert.equal(next.skippedBackoff, 0, "first failure is retried on the next sweep");
  const third = await poller.sweep();
  assert.equal(third.skippedBackoff, 1);
});
