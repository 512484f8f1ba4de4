// A threaded scan finds what a one-thread scan finds, in the same address order,
// with progress summed over the shards (the worker runs from the sources here).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { scanHosts } from "../../agent/cli/scan-hosts.ts";
import { scanInThreads } from "../../agent/cli/scan-threads.ts";
import { startSimSite } from "../../sim/site.ts";

// 127.202.0.0/22: this file's own block
const hosts = Array.from({ length: 600 }, (_, i) => `127.202.${Math.floor(i / 250)}.${(i % 250) + 1}`);
const alive = [0, 1, 2, 250, 251, 401, 599].map((i) => hosts[i]!);

describe("scan over threads", () => {
  let sim: Awaited<ReturnType<typeof startSimSite>>;
  before(async () => {
    sim = await startSimSite({
      miners: alive.map((host, i) => ({ id: `t${i + 1}`, host, port: 4028 })),
      meters: [],
      seed: 5,
    });
  });
  after(() => sim.stop());

  test("two shards: the live miners in address order, as one thread finds them", async () => {
    const progress: Array<[number, number, number]> = [];
    const opts = { port: 4028, concurrency: 64, timeoutMs: 1000 };
    const threaded = await scanInThreads(
      hosts,
      { ...opts, onProgress: (done, total, found) => progress.push([done, total, found]) },
      { threads: 2, minHostsPerThread: 256 },
    );
    assert.deepEqual(
      threaded.map((m) => m.host),
      alive,
    );
    const single = await scanHosts(hosts, opts);
    assert.deepEqual(
      threaded.map((m) => [m.host, m.dialect, m.model]),
      single.map((m) => [m.host, m.dialect, m.model]),
    );
    const last = progress.at(-1)!;
    assert.deepEqual(last, [hosts.length, hosts.length, alive.length]);
  });

  test("a range too small to share out stays on this thread", async () => {
    const few = hosts.slice(0, 20);
    const found = await scanInThreads(
      few,
      { port: 4028, concurrency: 8, timeoutMs: 1000 },
      { threads: 4, minHostsPerThread: 256 },
    );
    assert.deepEqual(
      found.map((m) => m.host),
      alive.slice(0, 3),
    );
  });
});
