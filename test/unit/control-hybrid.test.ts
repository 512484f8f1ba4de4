// Hybrid control rules of the pure planner: track mode, AI swing absorption and
// the GPU flex tiers (docs/design.md, The control loop). Also the AI step watch.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AiSwingWatch } from "../../agent/control/ai-swing.ts";
import { plan } from "../../agent/control/policy.ts";
import type { DeviceLedger, PlanGpuNode, PlanMiner, PolicyConfig } from "../../agent/control/types.ts";
import { B, miner as baseMiner, gpuNode, ledger, NOW, policyConfig, snap } from "../helpers/plan.ts";

const TRACK = policyConfig({
  shedMarginW: 2_000,
  restoreMarginW: 6_000,
  emergencyMarginW: 20_000,
  minOnS: 60,
  minOffS: 60,
  rampUpWPerMin: 60_000,
  restoreStaggerS: 0,
  strategy: "track",
  track: { toleranceW: 1_000, dwellS: 10, deadbandW: 100 },
});
const LIMIT_CAPS = ["sleep", "wake", "setPowerLimit"] as const;

/** A 100 TH/s miner whose limit moves in [2, 3.5] kW. */
function miner(id: string, powerW: number, o: Partial<PlanMiner> = {}): PlanMiner {
  return baseMiner(id, powerW, 100, {
    capabilities: LIMIT_CAPS,
    minPowerLimitW: 2_000,
    maxPowerLimitW: 3_500,
    ...o,
  });
}
/** Two GPUs at 700 W. */
function node(id: string, flex: PlanGpuNode["flex"], priority = 0): PlanGpuNode {
  return gpuNode(
    id,
    [
      [700, 700],
      [700, 700],
    ],
    { priority, flex },
  );
}
/** A target the agent lowered from 3 kW, long enough ago that no guard holds it. */
const lowered = (at = NOW - 600_000): DeviceLedger => ({
  powerLimit: { originalW: 3_000, at },
  movedAt: at,
  movedDir: -1,
});
const short = (p: ReturnType<typeof plan>) =>
  p.actions.map((a) => `${a.kind}:${a.deviceId}${a.valueW === undefined ? "" : `=${a.valueW}`}`);

describe("policy: track mode", () => {
  test("inside the band (less than half the tolerance under the shed line): nothing moves", () => {
    // shed line 98 kW, band 97–98 kW: raises begin under 97.5 kW
    const p = plan(snap(97_600, [miner("a", 2_000)]), B, TRACK, ledger({ a: lowered() }), NOW);
    assert.deepEqual(p.actions, []);
    assert.equal(p.mode, "hold");
  });

  test("over the shed line: targets are trimmed, no miner is slept", () => {
    const p = plan(snap(99_000, [miner("a", 3_000), miner("b", 3_000)]), B, TRACK, ledger(), NOW);
    assert.deepEqual(short(p), ["setPowerLimit:a=2000"]);
    assert.equal(p.actions[0]!.expectedDeltaW, -1_000);
  });

  test("sleeps only once the targets run out (every miner at its floor)", () => {
    const p = plan(
      snap(103_000, [miner("a", 2_000), miner("b", 2_000), miner("c", 3_000, { hashrateThs: 150 })]),
      B,
      TRACK,
      ledger(),
      NOW,
    );
    // 5 kW over the shed line: c trims 1 kW (to its 2 kW floor), then two whole miners sleep
    assert.deepEqual(short(p), ["setPowerLimit:c=2000", "sleep:a", "sleep:b"]);
  });

  test("under the band: lowered targets are raised to a quarter band under the line, not past their maximum", () => {
    // headroom 98 − 95 = 3 kW; fill to 97.75 kW: 2.75 kW, each is 1 kW under its original
    const p = plan(
      snap(95_000, [miner("a", 2_000), miner("b", 2_000), miner("c", 2_000)]),
      B,
      TRACK,
      ledger({ a: lowered(), b: lowered(), c: lowered() }),
      NOW,
    );
    assert.deepEqual(short(p), [
      "restorePowerLimit:a=3000",
      "restorePowerLimit:b=3000",
      "restorePowerLimit:c=2750",
    ]);
    const total = p.actions.reduce((s, a) => s + a.expectedDeltaW, 0);
    assert.equal(total, 2_750);
  });

  test("wakes wait while any target the agent lowered is below its maximum", () => {
    const sleeper = miner("z", 0, { state: "sleeping" });
    const slept: DeviceLedger = { sleptAt: NOW - 600_000, sleptPowerW: 3_000, efficiencyJPerTh: 30 };
    const held = plan(
      snap(80_000, [miner("a", 2_000), sleeper]),
      B,
      TRACK,
      // a's raise is held by its dwell, but it is below its maximum: no wake yet
      ledger({ a: { ...lowered(NOW - 5_000) }, z: slept }),
      NOW,
    );
    assert.deepEqual(short(held), []);
    const maxed = plan(snap(80_000, [miner("a", 3_000), sleeper]), B, TRACK, ledger({ z: slept }), NOW);
    assert.deepEqual(short(maxed), ["wake:z"]);
  });

  test("a target is not raised within dwellS of its last move, nor lowered within minOnS of a raise", () => {
    const recentDown = plan(
      snap(90_000, [miner("a", 2_000)]),
      B,
      TRACK,
      ledger({ a: lowered(NOW - 5_000) }),
      NOW,
    );
    assert.deepEqual(short(recentDown), []);
    // raised 20 s ago (past dwellS, inside minOnS): a is not trimmed back down, b is
    const raised: DeviceLedger = {
      powerLimit: { originalW: 3_000, at: NOW - 600_000 },
      movedAt: NOW - 20_000,
      movedDir: 1,
    };
    const p = plan(
      snap(98_500, [miner("a", 2_800), miner("b", 3_000)]),
      B,
      TRACK,
      ledger({ a: raised }),
      NOW,
    );
    assert.deepEqual(short(p), ["setPowerLimit:b=2500"]);
  });

  test("under the budget a dwelling target waits (no sleep, no AI cap); a breach trims through the dwell", () => {
    const recent = { a: lowered(NOW - 5_000), b: lowered(NOW - 5_000), c: lowered(NOW - 5_000) };
    const miners = [miner("a", 3_000), miner("b", 3_000), miner("c", 3_000)];
    const wait = plan(snap(99_500, miners, [node("n", "cap")]), B, TRACK, ledger(recent), NOW);
    assert.deepEqual(short(wait), []);
    assert.ok(wait.alarms.some((a) => a.code === "shed-held-min-on" && a.message.includes("dwellS")));
    const breach = plan(snap(100_500, miners, [node("n", "cap")]), B, TRACK, ledger(recent), NOW);
    assert.deepEqual(short(breach), ["setPowerLimit:a=2000", "setPowerLimit:b=2000", "setPowerLimit:c=2500"]);
  });

  test("targets stay inside the model's range; without a declared floor, 60 % of the full draw", () => {
    const p = plan(
      snap(110_000, [miner("a", 3_000, { minPowerLimitW: null, capabilities: ["setPowerLimit"] })]),
      B,
      TRACK,
      ledger({ a: { powerLimit: { originalW: 3_000, at: NOW - 600_000 } } }),
      NOW,
    );
    assert.deepEqual(short(p), ["setPowerLimit:a=1800"]);
    const up = plan(
      snap(80_000, [miner("a", 2_000, { maxPowerLimitW: 2_600 })]),
      B,
      TRACK,
      ledger({ a: lowered() }),
      NOW,
    );
    // the ledger's original is 3 kW, the model's maximum 2.6 kW
    assert.deepEqual(short(up), ["restorePowerLimit:a=2600"]);
  });

  test("a raise smaller than the deadband is not sent, unless it finishes at the maximum", () => {
    const cfg = { ...TRACK, track: { toleranceW: 600, dwellS: 10, deadbandW: 400 } };
    // headroom 500 > 300 (half the band): fill to a quarter band under the line, 350 W, under the deadband
    const small = plan(snap(97_500, [miner("b", 2_000)]), B, cfg, ledger({ b: lowered() }), NOW);
    assert.deepEqual(short(small), []);
    // the same 350 W finishes b at its maximum: sent
    const last = plan(snap(97_500, [miner("b", 2_700)]), B, cfg, ledger({ b: lowered() }), NOW);
    assert.deepEqual(short(last), ["restorePowerLimit:b=3000"]);
  });
});

describe("policy: firmware with discrete limit steps (LuxOS profiles)", () => {
  const steps = { powerLimitStepsW: [2_000, 2_240, 2_480, 2_720, 2_960], maxPowerLimitW: 2_960 };
  const at = (w: number, id = "a") => miner(id, w, { ...steps, powerLimitW: w, minPowerLimitW: 2_000 });
  const luxLowered: DeviceLedger = { ...lowered(), powerLimit: { originalW: 2_960, at: NOW - 600_000 } };

  test("a raise that would land on the step the miner is at is not sent; the next miner gets it", () => {
    // headroom 98 − 97.6 = 400 W > 250: fill 150 W — under one 240 W step: nothing to send
    const none = plan(snap(97_600, [at(2_480)]), B, TRACK, ledger({ a: luxLowered }), NOW);
    assert.deepEqual(short(none), []);
    // 1.25 kW headroom: fill 1 kW. b (the better J/TH) first: 2,000 + 1,000 is past its top
    // profile, so 2,960 (960 W); the 40 W left is no step on a
    const p1 = plan(
      snap(96_750, [at(2_480), at(2_000, "b")]),
      B,
      TRACK,
      ledger({ a: luxLowered, b: luxLowered }),
      NOW,
    );
    assert.deepEqual(short(p1), ["restorePowerLimit:b=2960"]);
    // 1.5 kW headroom: fill 1.25 kW: b to its top (960 W), then a 2,480 + 290 → the 2,720 profile
    const p2 = plan(
      snap(96_500, [at(2_480), at(2_000, "b")]),
      B,
      TRACK,
      ledger({ a: luxLowered, b: luxLowered }),
      NOW,
    );
    assert.deepEqual(short(p2), ["restorePowerLimit:b=2960", "restorePowerLimit:a=2720"]);
    assert.deepEqual(
      p2.actions.map((a) => a.expectedDeltaW),
      [960, 240],
    );
  });

  test("a trim is counted at the step the firmware applies (at or below the target)", () => {
    // 300 W over the shed line: a 2,960 W target to 2,660 becomes the 2,480 W profile
    const p = plan(snap(98_300, [at(2_960)]), B, TRACK, ledger(), NOW);
    assert.deepEqual(short(p), ["setPowerLimit:a=2480"]);
    assert.equal(p.actions[0]!.expectedDeltaW, -480);
  });
});

describe("policy: emergencies and minOnS", () => {
  test("an emergency takes a miner woken within minOnS only after every other", () => {
    const cfg: PolicyConfig = { ...TRACK, strategy: "sleep" };
    // the woken miner is the least efficient: without the rule it would go first
    const miners = [
      miner("woken", 3_000, { capabilities: ["sleep", "wake"], hashrateThs: 50 }),
      ...Array.from({ length: 9 }, (_, i) => miner(`s${i}`, 3_000, { capabilities: ["sleep", "wake"] })),
    ];
    // P 120 kW > 99 kW + 20 kW: an emergency; 23 kW to shed, eight miners
    const p = plan(
      snap(120_000, miners),
      { budgetW: 99_000 },
      cfg,
      ledger({ woken: { wokeAt: NOW - 5_000 } }),
      NOW,
    );
    assert.equal(p.actions.length, 8);
    assert.ok(!p.actions.some((a) => a.deviceId === "woken"));
    assert.ok(p.alarms.some((a) => a.code === "emergency"));
  });
});

describe("policy: AI swing absorption", () => {
  const SLEEP: PolicyConfig = { ...TRACK, strategy: "sleep", restoreStaggerS: 10 };

  test("an AI step up the meter has not shown is shed in the same tick", () => {
    const miners = [miner("a", 3_000, { capabilities: ["sleep", "wake"] })];
    assert.deepEqual(short(plan(snap(96_000, miners), B, SLEEP, ledger(), NOW)), []);
    const p = plan(snap(96_000, miners, [], { aiSwingW: 3_000 }), B, SLEEP, ledger(), NOW);
    assert.deepEqual(short(p), ["sleep:a"]);
    assert.ok(p.alarms.some((a) => a.code === "ai-step"));
  });

  test("the agent's own GPU cap in flight is not an AI step (it is counted as a pending shed already)", () => {
    const gpu = { ...node("g", "firm") };
    const p = plan(
      snap(96_000, [miner("a", 3_000, { capabilities: ["sleep", "wake"] })], [gpu], { aiSwingW: -1_000 }),
      B,
      SLEEP,
      ledger({ g: { pendingShed: { expectedW: 1_000, issuedAt: NOW - 500 } } }),
      NOW,
    );
    assert.ok(!p.alarms.some((a) => a.code === "ai-step"));
  });

  test("an AI fall is filled past the stagger, the slope and the ramp: the site stays flat", () => {
    const sleeper = (id: string) => miner(id, 0, { state: "sleeping", capabilities: ["sleep", "wake"] });
    const slept: DeviceLedger = { sleptAt: NOW - 600_000, sleptPowerW: 3_000, efficiencyJPerTh: 30 };
    // a restore 2 s ago used the whole minute's ramp
    const restores = [{ deviceId: "x", expectedW: 60_000, at: NOW - 2_000 }];
    const miners = [sleeper("y"), sleeper("z")];
    const devices = { y: slept, z: slept };
    const without = plan(snap(90_000, miners), B, SLEEP, ledger(devices, restores), NOW);
    assert.deepEqual(short(without), []);
    // AI fell 4 kW 1 s ago (after that restore): one 3 kW wake fills it, the second would not fit
    const fell = { ...snap(90_000, miners), aiFall: { fallW: 4_000, since: NOW - 1_000 } };
    const p = plan(fell, B, SLEEP, ledger(devices, restores), NOW);
    assert.deepEqual(short(p), ["wake:y"]);
    // once restores since the fall have filled it, the stagger and the ramp hold again
    const filled = [...restores, { deviceId: "y", expectedW: 4_000, at: NOW - 500 }];
    assert.deepEqual(short(plan(fell, B, SLEEP, ledger(devices, filled), NOW)), []);
  });
});

describe("policy: GPU flex tiers", () => {
  const SLEEP: PolicyConfig = { ...TRACK, strategy: "sleep" };
  const heldMiner = miner("m", 3_000, { capabilities: ["sleep", "wake"] });
  const held = ledger({ m: { wokeAt: NOW - 10_000 } });

  test("firm nodes are not capped while a miner is only held by minOnS; cap and drain nodes are", () => {
    const p = plan(
      snap(99_000, [heldMiner], [node("firm-1", "firm"), node("cap-1", "cap"), node("drain-1", "drain")]),
      B,
      SLEEP,
      held,
      NOW,
    );
    // 1 kW over: cap-1 GPU 0 gives 400 W (to 300 W), GPU 1 the other 400 W… then drain-1
    assert.deepEqual(
      p.actions.map((a) => `${a.kind}:${a.deviceId}`),
      ["capGpu:cap-1", "capGpu:cap-1", "drainGpuNode:drain-1", "capGpu:drain-1"],
    );
    assert.ok(p.alarms.every((a) => a.code !== "shed-held-min-on"));
  });

  test("tiers in order cap → drain → firm, priority within a tier; firm last", () => {
    const p = plan(
      snap(
        110_000,
        [],
        [node("firm-1", "firm"), node("drain-1", "drain"), node("cap-b", "cap", 1), node("cap-a", "cap", 0)],
      ),
      B,
      SLEEP,
      ledger(),
      NOW,
    );
    const order = [...new Set(p.actions.map((a) => a.deviceId))];
    assert.deepEqual(order, ["cap-a", "cap-b", "drain-1", "firm-1"]);
    assert.equal(p.actions.filter((a) => a.kind === "drainGpuNode").length, 1);
  });

  test("a clock-locked node's GPU already capped has no second step", () => {
    const locked = { ...node("l", "cap"), clockLocked: true };
    const caps = new Map([[0, { originalW: 700, at: NOW - 10_000 }]]);
    const p = plan(snap(110_000, [], [locked]), B, SLEEP, ledger({ l: { gpuCaps: caps } }), NOW);
    assert.deepEqual(
      p.actions.map((a) => `${a.kind}:${a.deviceId}#${a.gpuIndex}`),
      ["capGpu:l#1"],
    );
  });

  test("a drained node is not drained again; once every cap is lifted it is resumed", () => {
    const again = plan(
      snap(99_000, [], [node("d", "drain")]),
      B,
      SLEEP,
      ledger({ d: { drainedAt: NOW - 1_000 } }),
      NOW,
    );
    assert.ok(!again.actions.some((a) => a.kind === "drainGpuNode"));
    const capped = plan(
      snap(80_000, [], [node("d", "drain")]),
      B,
      { ...SLEEP, restoreStaggerS: 0 },
      ledger({
        d: { drainedAt: NOW - 60_000, gpuCaps: new Map([[0, { originalW: 700, at: NOW - 60_000 }]]) },
      }),
      NOW,
    );
    assert.ok(!capped.actions.some((a) => a.kind === "resumeGpuNode"));
    const lifted = plan(
      snap(80_000, [], [node("d", "drain")]),
      B,
      SLEEP,
      ledger({ d: { drainedAt: NOW - 60_000 } }),
      NOW,
    );
    assert.deepEqual(short(lifted), ["resumeGpuNode:d"]);
  });
});

describe("AiSwingWatch", () => {
  test("a step larger than aiStepW counts until the meter's reading postdates it", () => {
    const w = new AiSwingWatch(1_000);
    assert.equal(w.observe({ aiW: 10_000, aiAt: 1_000, powerAt: 900 }, 1_100), 0);
    assert.equal(w.observe({ aiW: 10_500, aiAt: 2_000, powerAt: 1_900 }, 2_100), 0); // under the step size
    assert.equal(w.observe({ aiW: 13_500, aiAt: 3_000, powerAt: 2_900 }, 3_100), 3_000); // the meter read before it
    assert.equal(w.observe({ aiW: 13_500, aiAt: 3_000, powerAt: 2_950 }, 3_200), 3_000);
    assert.equal(w.observe({ aiW: 13_500, aiAt: 3_000, powerAt: 3_050 }, 3_300), 0); // the meter shows it now
    assert.equal(w.observe({ aiW: 9_000, aiAt: 4_000, powerAt: 3_500 }, 4_100), -4_500);
    assert.equal(w.observe({ aiW: 9_000, aiAt: 4_000, powerAt: null }, 4_200), 0); // no meter: P is an estimate
  });

  test("the fall: AI below its highest of the last minute, from when that peak was read", () => {
    const w = new AiSwingWatch(1_000);
    w.observe({ aiW: 10_000, aiAt: 1_000, powerAt: 1_000 }, 1_000);
    w.observe({ aiW: 14_000, aiAt: 2_000, powerAt: 2_000 }, 2_000);
    assert.equal(w.fall(), null);
    w.observe({ aiW: 13_500, aiAt: 3_000, powerAt: 3_000 }, 3_000);
    assert.equal(w.fall(), null, "within the step size");
    w.observe({ aiW: 9_000, aiAt: 4_000, powerAt: 4_000 }, 4_000);
    assert.deepEqual(w.fall(), { fallW: 5_000, since: 2_000 });
    // a minute later the peak has left the window
    w.observe({ aiW: 9_000, aiAt: 63_000, powerAt: 63_000 }, 63_000);
    assert.deepEqual(w.fall(), { fallW: 4_500, since: 3_000 });
    w.observe({ aiW: 9_000, aiAt: 70_000, powerAt: 70_000 }, 70_000);
    assert.equal(w.fall(), null);
  });
});
