// Commands before polls (agent/devices/command-first.ts): while the loop's miner
// commands go out, the miner poller starts no new read; it goes on once they
// are all out, after the longest hold at the latest, or when it is stopped.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ControlLoop } from "../../agent/control/loop.ts";
import { CommandFirst } from "../../agent/devices/command-first.ts";
import { Poller } from "../../agent/devices/poller.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { Ledger } from "../../agent/store/ledger.ts";
import { CONFIG, FakeSite, T0 } from "./control-loop-fixtures.ts";

const tick = () => new Promise((r) => setImmediate(r));

test("a poll waits while commands go out, until every batch is out; ending twice changes nothing", async () => {
  const first = new CommandFirst();
  assert.equal(first.turn(), null);
  const endA = first.begin();
  const endB = first.begin();
  let went = false;
  void first.turn()!.then(() => {
    went = true;
  });
  endA();
  endA(); // a second call is no second end: batch B is still going out
  await tick();
  assert.equal(went, false);
  assert.equal(first.busy, true);
  endB();
  await tick();
  assert.equal(went, true);
  assert.equal(first.busy, false);
  assert.equal(first.turn(), null);
});

test("a stream of commands holds a poll no longer than the longest hold; an abort ends the wait", async () => {
  const first = new CommandFirst(30);
  first.begin(); // never ends
  const t = Date.now();
  await first.turn();
  assert.ok(Date.now() - t >= 25, `held ${Date.now() - t} ms`);
  const stop = new AbortController();
  const waiting = first.turn(stop.signal)!;
  stop.abort();
  await waiting;
  assert.equal(first.turn(stop.signal), null);
});

function poller(first: CommandFirst, reads: string[]) {
  return new Poller<{ ok: boolean }>({
    name: "t",
    targets: ["a", "b", "c"].map((id) => ({
      id,
      read: async () => {
        reads.push(id);
        return { ok: true };
      },
    })),
    intervalMs: 60_000,
    concurrency: 2,
    timeoutMs: 500,
    isFailure: () => false,
    onReading: () => {},
    onError: () => {},
    logger: silentLogger(),
    waitTurn: (signal) => first.turn(signal),
  });
}

test("the poller reads nothing while commands go out, then the whole sweep", async () => {
  const first = new CommandFirst();
  const end = first.begin();
  const reads: string[] = [];
  const sweep = poller(first, reads).sweep();
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(reads, []);
  end();
  const stats = await sweep;
  assert.deepEqual(reads.sort(), ["a", "b", "c"]);
  assert.equal(stats.failed, 0);
});

test("a stop ends a poller's wait for commands", async () => {
  const first = new CommandFirst();
  first.begin(); // never ends
  const reads: string[] = [];
  const p = poller(first, reads);
  p.start();
  await new Promise((r) => setTimeout(r, 20));
  const t = Date.now();
  await p.stop();
  assert.ok(Date.now() - t < 1000, `stop took ${Date.now() - t} ms`);
  assert.deepEqual(reads, []);
});

test("the loop holds the polls from its first miner command until the last is out", async () => {
  const site = new FakeSite(24, 5_000); // 120 kW against a 95 kW shed line: 5 sleeps
  site.delayMs = 5;
  const ledger = new Ledger(":memory:");
  ledger.open(T0);
  const first = new CommandFirst();
  const busyAtCall: boolean[] = [];
  site.onCall = () => busyAtCall.push(first.busy);
  const loop = new ControlLoop({
    getSnapshot: site.snapshot,
    budgetInputs: () => ({}),
    actuator: site,
    ledger,
    config: CONFIG,
    logger: silentLogger(),
    now: () => T0,
    retryDelayMs: 0,
    actionTimeoutMs: 1_000,
    commandFirst: first,
  });
  assert.equal(first.busy, false);
  const r = await loop.tick();
  assert.equal(r.sent, 5);
  assert.deepEqual(busyAtCall, [true, true, true, true, true]);
  assert.equal(first.busy, false);
  // a tick with nothing to send holds nothing
  await loop.tick();
  assert.equal(first.busy, false);
  ledger.close();
});
