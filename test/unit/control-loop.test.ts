// The control loop against a fake site and actuator (fakes of our own
// interfaces): written then sent, failed devices skipped, hold, no mass wake
// after a crash, fail-safe budget, timers.
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import { ControlLoop } from "../../agent/control/loop.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { Ledger } from "../../agent/store/ledger.ts";
import { waitFor } from "../helpers/ports.ts";
import { CONFIG, dir, FakeSite, setup, T0 } from "./control-loop-fixtures.ts";

describe("ControlLoop", () => {
  test("over budget: sleep actions are written, then sent, then finished", async () => {
    const site = new FakeSite(24, 5_000); // 120 kW against a 95 kW shed line
    const ledger = new Ledger(":memory:");
    ledger.open(T0);
    const { loop, events } = setup(site, ledger, { t: T0 });
    site.onCall = (id) => {
      // at send time the row is already in the ledger, pending
      const row = ledger.events(100).find((e) => e.deviceId === id);
      assert.equal(row?.state, "pending");
    };
    const r = await loop.tick();
    assert.equal(r.error, null);
    assert.equal(r.plan?.mode, "shed");
    assert.equal(r.sent, 5);
    assert.equal(r.done, 5);
    assert.deepEqual(site.calls, ["sleep m00", "sleep m01", "sleep m02", "sleep m03", "sleep m04"]);
    assert.ok(ledger.events(100).every((e) => e.state === "done" && e.kind === "sleep"));
    assert.equal(events.length, 10);
    for (const id of ["m00", "m04"]) {
      const mine = events.filter((e) => e.type !== "program" && e.action.deviceId === id).map((e) => e.type);
      assert.deepEqual(mine, ["action", "outcome"]);
    }
    assert.equal(ledger.view(T0).devices.get("m00")?.sleptPowerW, 5_000);
    ledger.close();
  });

  test("a failed batch write of the tick's actions falls back to one write per action", async () => {
    const site = new FakeSite(24, 5_000);
    const ledger = new Ledger(":memory:");
    ledger.open(T0);
    let batches = 0;
    ledger.beginMany = () => {
      batches++;
      throw new Error("disk I/O error");
    };
    const { loop } = setup(site, ledger, { t: T0 });
    site.onCall = (id) => assert.equal(ledger.events(100).find((e) => e.deviceId === id)?.state, "pending");
    const r = await loop.tick();
    assert.equal(batches, 1);
    assert.equal(r.sent, 5);
    assert.equal(r.done, 5);
    assert.equal(ledger.events(100).filter((e) => e.state === "done").length, 5);
    ledger.close();
  });

  test("a failed device is backed off and the next candidate is chosen", async () => {
    const site = new FakeSite(20, 5_000); // 100 kW: one sleep needed
    site.failing.add("m00");
    const ledger = new Ledger(":memory:");
    ledger.open(T0);
    const clock = { t: T0 };
    const { loop, events } = setup(site, ledger, clock);
    const r1 = await loop.tick();
    assert.deepEqual(site.calls, ["sleep m00", "sleep m00"]); // retries: 2 attempts
    assert.equal(r1.failed, 1);
    const out = events.find((e) => e.type === "outcome");
    assert.equal(out?.type === "outcome" && out.ok, false);
    assert.ok((ledger.view(T0).devices.get("m00")?.failedUntil ?? 0) > T0);

    clock.t += 2_000;
    const r2 = await loop.tick();
    assert.deepEqual(
      r2.plan?.actions.map((a) => a.deviceId),
      ["m01"],
    );
    assert.deepEqual(site.calls.slice(2), ["sleep m01"]);
    assert.equal(loop.stats.actionsFailed, 1);
    assert.equal(loop.stats.actionsDone, 1);
    ledger.close();
  });

  test("hold plans but sends nothing", async () => {
    const site = new FakeSite(24, 5_000);
    const ledger = new Ledger(":memory:");
    ledger.open(T0);
    const { loop, events } = setup(site, ledger, { t: T0 });
    loop.setMode("hold");
    const r = await loop.tick();
    assert.equal(r.mode, "hold");
    assert.ok((r.plan?.actions.length ?? 0) > 0);
    assert.equal(r.sent, 0);
    assert.deepEqual(site.calls, []);
    assert.deepEqual(events, []);
    assert.deepEqual(ledger.events(10), []);
    ledger.close();
  });

  test("operator actions: written first, applied in hold mode, and never undone by the policy", async () => {
    const site = new FakeSite(10, 5_000); // 50 kW: far under budget, the policy restores whatever it slept
    const ledger = new Ledger(":memory:");
    ledger.open(T0);
    const clock = { t: T0 };
    const { loop, events } = setup(site, ledger, clock);
    loop.setMode("hold");
    site.onCall = (id) => assert.equal(ledger.events(1)[0]?.deviceId, id);
    const out = await loop.manual({
      deviceId: "m03",
      kind: "sleep",
      expectedDeltaW: -5_000,
      reason: "operator",
    });
    assert.equal(out.ok, true);
    assert.deepEqual(site.calls, ["sleep m03"]);
    const row = ledger.events(1)[0]!;
    assert.equal(row.origin, "operator");
    assert.equal(row.state, "done");
    assert.deepEqual(
      events.map((e) => e.type),
      ["action", "outcome"],
    );
    // not the agent's sleep: with headroom in auto mode the policy still leaves it asleep
    assert.equal(ledger.view(clock.t).devices.get("m03")?.sleptAt ?? null, null);
    loop.setMode("auto");
    clock.t += 3_600_000;
    const r = await loop.tick();
    assert.equal(r.error, null);
    assert.deepEqual(r.plan?.actions ?? [], []);
    // reboot is an operator-only action
    const rb = await loop.manual({ deviceId: "m05", kind: "reboot", expectedDeltaW: 0, reason: "operator" });
    assert.equal(rb.ok, true);
    assert.equal(site.calls.at(-1), "reboot m05");
    ledger.close();
  });

  test("after a crash, slept miners stay asleep and come back only through the ramp", async () => {
    const path = join(dir, "crash.db");
    const site = new FakeSite(20, 5_000);
    const clock = { t: T0 };
    let ledger = new Ledger(path);
    ledger.open(clock.t);
    // a lease of 60 kW: 9 miners slept (100 → 55 kW)
    const lease = { lease: { watts: 60_000, expiresAt: T0 + 60_000, reason: "DR event" } };
    const first = setup(site, ledger, clock, lease).loop;
    const r = await first.tick();
    assert.equal(r.done, 9);
    // a sleep written, never finished: the agent dies mid-send
    ledger.begin({
      deviceId: "m19",
      kind: "sleep",
      expectedDeltaW: -5_000,
      reason: "over budget",
      at: clock.t,
    });
    ledger.close();
    await first.stop();

    // boot 5 minutes later, the lease gone: 40 kW of headroom, 45 kW asleep
    clock.t = T0 + 300_000;
    ledger = new Ledger(path);
    ledger.open(clock.t);
    const { loop } = setup(site, ledger, clock);
    assert.equal(site.miners.filter((m) => m.state === "sleeping").length, 9);
    const wakes = async () => {
      const before = site.calls.length;
      await loop.tick();
      return site.calls.slice(before).filter((c) => c.startsWith("wake"));
    };
    // the ramp as a slope: 20 kW/min in 10 s batches is 3.33 kW a batch, so one 5 kW miner a batch
    const w1 = await wakes();
    assert.deepEqual(w1.length, 1);
    assert.ok(!w1.includes("wake m19")); // it is hashing: nothing to wake
    clock.t += 2_000;
    assert.deepEqual(await wakes(), []); // restoreStaggerS
    for (let i = 0; i < 3; i++) {
      clock.t += 10_000;
      assert.equal((await wakes()).length, 1, `batch ${i + 2}`);
    }
    clock.t += 10_000;
    assert.deepEqual(await wakes(), []); // 4 × 5 kW: the ramp's 60 s window is full
    clock.t += 60_000;
    // 75.25 kW now: 19.75 kW of headroom, taken a batch at a time
    let more = 0;
    for (let i = 0; i < 6; i++) {
      more += (await wakes()).length;
      clock.t += 10_000;
    }
    // a batch at a time, the restore line (85 kW) is checked between batches: two more and the
    // site is above it (where a minute's ramp at once took three and overshot to 90 kW)
    assert.equal(more, 2);
    assert.equal(site.miners.filter((m) => m.state === "sleeping").length, 3);
    ledger.close();
  });

  test("a stale meter without an estimate sheds to the failsafe budget", async () => {
    const site = new FakeSite(12, 5_000); // 60 kW of device reports
    site.meter = null;
    const ledger = new Ledger(":memory:");
    ledger.open(T0);
    const { loop } = setup(site, ledger, { t: T0 });
    const r = await loop.tick();
    assert.equal(r.budget?.source, "failsafe");
    assert.equal(r.budget?.budgetW, 50_000);
    assert.equal(r.done, 3); // 60 kW − 45 kW shed line
    ledger.close();
  });

  test("an actuator past its deadline fails the action; a throwing snapshot never escapes a tick", async () => {
    const site = new FakeSite(20, 5_000);
    site.delayMs = 200;
    const ledger = new Ledger(":memory:");
    ledger.open(T0);
    const loop = new ControlLoop({
      getSnapshot: site.snapshot,
      budgetInputs: () => ({}),
      actuator: site,
      ledger,
      config: { ...CONFIG, control: { ...CONFIG.control, retries: 1 } },
      logger: silentLogger(),
      now: () => T0,
      actionTimeoutMs: 20,
    });
    const r = await loop.tick();
    assert.equal(r.failed, 1);
    assert.match(ledger.events(1)[0]?.outcomeReason ?? "", /no confirmation within 20 ms/);

    const broken = new ControlLoop({
      getSnapshot: () => {
        throw new Error("boom");
      },
      budgetInputs: () => ({}),
      actuator: site,
      ledger,
      config: CONFIG,
      logger: silentLogger(),
    });
    const rb = await broken.tick();
    assert.equal(rb.error, "boom");
    assert.equal(broken.stats.tickErrors, 1);
    await site.settled(); // the slow fake finishes the sleeps the tick gave up on
    ledger.close();
  });

  test("start ticks without overlap, wakeNow ticks at once, stop waits and leaves no timers", async () => {
    const timers = () => process.getActiveResourcesInfo().filter((x) => x === "Timeout").length;
    const baseline = timers();
    const site = new FakeSite(24, 5_000);
    site.delayMs = 30;
    const ledger = new Ledger(":memory:");
    ledger.open(T0);
    let active = 0;
    let maxActive = 0;
    let snapshots = 0;
    let ticksEnded = 0;
    let firstTickBegun!: () => void;
    const inFirstTick = new Promise<void>((r) => {
      firstTickBegun = r;
    });
    const loop = new ControlLoop({
      getSnapshot: () => {
        snapshots++;
        firstTickBegun();
        return site.snapshot();
      },
      onTickEnd: () => {
        ticksEnded++;
      },
      budgetInputs: () => ({}),
      actuator: {
        ...site,
        sleep: async (id: string) => {
          active++;
          maxActive = Math.max(maxActive, active);
          try {
            return await site.sleep(id);
          } finally {
            active--;
          }
        },
        wake: (id: string) => site.wake(id),
        setPowerLimit: () => site.setPowerLimit(),
        restorePowerLimit: () => site.restorePowerLimit(),
        capGpu: () => site.capGpu(),
        uncapGpu: () => site.uncapGpu(),
      },
      ledger,
      config: { ...CONFIG, control: { ...CONFIG.control, tickS: 0.05 } },
      logger: silentLogger(),
      now: () => T0,
    });
    loop.start();
    await inFirstTick;
    loop.wakeNow(); // during the first tick: runs right after it
    await waitFor("the tick wakeNow asked for", () => ticksEnded >= 2, 10_000, 5);
    await loop.stop();
    const after = snapshots;
    assert.ok(after >= 2, `ticks: ${after}`);
    assert.equal(maxActive, 5); // the 5 sleeps in parallel, one tick at a time
    assert.equal(timers(), baseline);
    // nothing marks a tick that never comes: two periods of the wall clock show none did
    await new Promise((r) => setTimeout(r, 120));
    assert.equal(snapshots, after); // no tick after stop
    ledger.close();
  });

  test("the beat: after every tick, and each period while a tick is still applying; none after stop", async () => {
    const site = new FakeSite(24, 5_000);
    site.delayMs = 300; // the shed outlasts several periods
    const ledger = new Ledger(":memory:");
    ledger.open(T0);
    const beats: boolean[] = [];
    let ticks = 0;
    const loop: ControlLoop = new ControlLoop({
      getSnapshot: () => site.snapshot(),
      budgetInputs: () => ({}),
      actuator: site,
      ledger,
      config: { ...CONFIG, control: { ...CONFIG.control, tickS: 0.05 } },
      logger: silentLogger(),
      now: () => T0,
      onTickEnd: () => {
        ticks++;
      },
      onBeat: () => {
        beats.push(loop.progress.busySince !== null);
        if (beats.length === 1) throw new Error("a listener that throws");
      },
    });
    loop.start();
    // the shed's beats, then a few ticks after it (each with its beat)
    await waitFor(
      "3 beats during the shed and 3 ticks",
      () => beats.filter(Boolean).length >= 3 && ticks >= 3,
      10_000,
      5,
    );
    await loop.stop();
    const n = beats.length;
    assert.ok(beats.filter((busy) => busy).length >= 3, `beats while the shed applies: ${beats.join(",")}`);
    // the tick that ended with the stop is the only one without its beat
    assert.ok(n >= ticks - 1 + 3, `beats ${n}, ticks ${ticks}`);
    const sleeps = site.calls.filter((c) => c.startsWith("sleep"));
    assert.ok(sleeps.length >= 5, sleeps.join(","));
    assert.equal(new Set(sleeps).size, sleeps.length, "each miner slept once: a beat sends nothing");
    // nothing marks a beat that never comes: three periods of the wall clock show none did
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(beats.length, n, "no beat after stop");
    ledger.close();
  });
});
