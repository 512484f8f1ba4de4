// The planner and the miner models (config/models): a power limit outside the
// model's range is never planned, a woken miner still ramping to its draw
// counts as power to come, and equally efficient wakes go fastest first.
// Pure: views in, plan out.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { plan, rampingWakeW } from "../../agent/control/policy.ts";
import type { DeviceLedger, PlanMiner, RestoreRecord } from "../../agent/control/types.ts";
import { B, miner as baseMiner, ledger, NOW, policyConfig, sleptBy, snap } from "../helpers/plan.ts";

const CFG = policyConfig({ rampUpWPerMin: 100_000, restoreStaggerS: 0 });
const miner = (id: string, powerW: number, hashrateThs: number, o: Partial<PlanMiner> = {}) =>
  baseMiner(id, powerW, hashrateThs, { capabilities: ["sleep", "wake", "setPowerLimit"], ...o });
const asleep = (id: string, o: Partial<PlanMiner> = {}) => miner(id, 0, 0, { state: "sleeping", ...o });
const view = ledger;
const slept = (powerW: number, eff: number): DeviceLedger => sleptBy(powerW, eff);
const actions = (p: ReturnType<typeof plan>) =>
  p.actions.map((a) => `${a.kind}:${a.deviceId}${a.valueW === undefined ? "" : `@${a.valueW}`}`);

describe("planner: the model's power range", () => {
  test("a limit is never planned below the model's minimum: the shed takes the floor, then sleeps", () => {
    // 1,500 W over the shed line: 3,000 − 1,500 = 1,500 W would be under the model's 2,000 W
    const m = miner("a", 3000, 100, { minPowerLimitW: 2000, maxPowerLimitW: 3400 });
    const p = plan(
      snap(96_500, [m, miner("b", 3000, 90, { capabilities: ["sleep", "wake"] })]),
      B,
      { ...CFG, strategy: "power-limit-then-sleep" },
      view(),
      NOW,
    );
    assert.deepEqual(actions(p), ["setPowerLimit:a@2000", "sleep:b"]);
  });

  test("a limit is never planned above the model's maximum (a miner drawing over it takes more than the need)", () => {
    const m = miner("a", 3600, 100, { minPowerLimitW: 2000, maxPowerLimitW: 3400 });
    const p = plan(snap(95_050, [m]), B, { ...CFG, strategy: "power-limit-then-sleep" }, view(), NOW);
    assert.deepEqual(actions(p), ["setPowerLimit:a@3400"]);
    assert.equal(p.actions[0]!.expectedDeltaW, -200);
  });

  test("track raises a lowered target to the model's maximum, not past it to the original", () => {
    const m = miner("a", 2500, 80, { powerLimitW: 2500, minPowerLimitW: 2000, maxPowerLimitW: 3400 });
    const l: DeviceLedger = { powerLimit: { originalW: 3600, at: NOW - 600_000 } };
    const p = plan(
      snap(50_000, [m]),
      B,
      { ...CFG, strategy: "track", track: { toleranceW: 20_000, dwellS: 30, deadbandW: 100 } },
      view({ a: l }),
      NOW,
    );
    assert.deepEqual(actions(p), ["restorePowerLimit:a@3400"]);
  });

  test("sleep strategy restores a limit within the range, and leaves it once there", () => {
    const l: DeviceLedger = { powerLimit: { originalW: 3600, at: NOW - 600_000 } };
    const lowered = miner("a", 2500, 80, { powerLimitW: 2500, maxPowerLimitW: 3400 });
    assert.deepEqual(actions(plan(snap(50_000, [lowered]), B, CFG, view({ a: l }), NOW)), [
      "restorePowerLimit:a@3400",
    ]);
    const atMax = miner("a", 3380, 100, { powerLimitW: 3400, maxPowerLimitW: 3400 });
    assert.deepEqual(actions(plan(snap(50_000, [atMax]), B, CFG, view({ a: l }), NOW)), []);
  });
});

describe("planner: the model's wake-up time", () => {
  const woke = (at: number): DeviceLedger => ({ wokeAt: at + 5_000, movedAt: at + 5_000, movedDir: 1 });
  const wakeRecord = (at: number): RestoreRecord => ({ deviceId: "w", expectedW: 3000, at, kind: "wake" });

  test("a confirmed wake still ramping counts what its miner has yet to draw, until its wake-up time", () => {
    const ramping = miner("w", 500, 20, { wakeUpS: 300 });
    const at = NOW - 60_000;
    const l = view({ w: woke(at) }, [wakeRecord(at)]);
    assert.equal(rampingWakeW([ramping], l, NOW), 2500);
    // past its wake-up time the miner is what it draws
    assert.equal(rampingWakeW([ramping], l, at + 300_000), 0);
    // no model (no wake-up time): nothing is assumed
    assert.equal(rampingWakeW([miner("w", 500, 20)], l, NOW), 0);
    // a wake not yet confirmed is the ledger's pendingWake, counted whole there
    const pending = view({ w: { ...woke(at), pendingWake: { expectedW: 3000, issuedAt: at } } }, [
      wakeRecord(at),
    ]);
    assert.equal(rampingWakeW([ramping], pending, NOW), 0);
  });

  test("a woken miner trimmed since, or within a tenth of its draw, has nothing still to come", () => {
    const at = NOW - 60_000;
    const records = [wakeRecord(at)];
    // track trimmed it after the wake: its draw is the target's (the slept 3,000 W is not coming)
    const trimmed = view({ w: { ...woke(at), movedAt: at + 20_000, movedDir: -1 } }, records);
    assert.equal(rampingWakeW([miner("w", 2000, 70, { wakeUpS: 300 })], trimmed, NOW), 0);
    // a limit under the slept draw caps what is expected
    const capped = miner("w", 2000, 70, { wakeUpS: 300, powerLimitW: 2400 });
    assert.equal(rampingWakeW([capped], view({ w: woke(at) }, records), NOW), 400);
    // 2,850 of 3,000 W: arrived; the rest is the reading's jitter
    assert.equal(
      rampingWakeW([miner("w", 2850, 95, { wakeUpS: 300 })], view({ w: woke(at) }, records), NOW),
      0,
    );
  });

  test("the headroom leaves room for a ramping wake: a second wake that would overshoot waits", () => {
    // shed line 95,000 W; P 90,000 W: 5,000 W of headroom, 2,500 of it still coming from w
    const at = NOW - 60_000;
    const miners = [miner("w", 500, 20, { wakeUpS: 300 }), asleep("s", { wakeUpS: 300 })];
    const devices = { w: woke(at), s: slept(3000, 25) };
    const cfg = { ...CFG, restoreMarginW: 4_000 };
    const p = plan(snap(90_000, miners), B, cfg, view(devices, [wakeRecord(at)]), NOW);
    assert.equal(p.headroomW, 2500);
    assert.deepEqual(actions(p), []);
    // once w has reached its draw (meter and reading), the same headroom takes the wake
    const later = plan(
      snap(92_500, [miner("w", 3000, 100, { wakeUpS: 300 }), asleep("s", { wakeUpS: 300 })]),
      { budgetW: 102_500 },
      cfg,
      view(devices, [wakeRecord(at)]),
      NOW,
    );
    assert.equal(later.headroomW, 5000);
    assert.deepEqual(actions(later), ["wake:s"]);
  });

  test("equally efficient sleepers: the faster wake goes first; efficiency still comes before speed", () => {
    const cfg = { ...CFG, restoreStaggerS: 10, rampUpWPerMin: 18_000 }; // one 3 kW miner per batch
    const devices = { slow: slept(3000, 25), fast: slept(3000, 25), best: slept(3000, 20) };
    const sleepers = [
      asleep("slow", { wakeUpS: 300 }),
      asleep("fast", { wakeUpS: 60 }),
      asleep("best", { wakeUpS: 600 }),
    ];
    // the most efficient first, whatever its wake-up time
    assert.deepEqual(actions(plan(snap(50_000, sleepers), B, cfg, view(devices), NOW)), ["wake:best"]);
    // between equals, the faster (ids would have picked "fast" anyway: test the other order too)
    const equal = [asleep("a-slow", { wakeUpS: 300 }), asleep("b-fast", { wakeUpS: 60 })];
    const eq = { "a-slow": slept(3000, 25), "b-fast": slept(3000, 25) };
    assert.deepEqual(actions(plan(snap(50_000, equal), B, cfg, view(eq), NOW)), ["wake:b-fast"]);
  });
});
