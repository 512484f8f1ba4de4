// The pure planner over budget, one rule at a time: mining shed first, AI capped only
// with no mining left and never slept (docs/design.md, The control loop).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { plan } from "../../agent/control/policy.ts";
import type { LedgerView, PlanSnapshot, PolicyConfig } from "../../agent/control/types.ts";
import { asleep, B, CFG, ledger, miner, NOW, node, short, snap } from "../helpers/plan.ts";

describe("policy: over budget sheds mining", () => {
  const cases: {
    name: string;
    snapshot: PlanSnapshot;
    ledger?: LedgerView;
    config?: Partial<PolicyConfig>;
    want: string[];
    alarms?: string[];
  }[] = [
    {
      name: "in the dead band: nothing",
      snapshot: snap(90_000, [miner("a", 3000, 100)]),
      want: [],
    },
    {
      name: "lowest priority first, then worst J/TH, ties by id",
      // over by 6 kW: needs 2 sleeps
      snapshot: snap(101_000, [
        miner("hi", 3000, 50, { priority: 5 }),
        miner("b", 3000, 100),
        miner("a", 3000, 100),
        miner("worse", 3000, 90),
      ]),
      want: ["sleep:worse", "sleep:a"],
    },
    {
      name: "sheds just enough: P − (B − shedMarginW)",
      snapshot: snap(95_001, [miner("a", 3000, 100), miner("b", 3000, 100)]),
      want: ["sleep:a"],
    },
    {
      name: "a miner woken inside minOnS is skipped for the next one",
      snapshot: snap(96_000, [miner("recent", 3000, 50), miner("old", 3000, 100)]),
      ledger: ledger({ recent: { wokeAt: NOW - 60_000 } }),
      want: ["sleep:old"],
    },
    {
      name: "minOnS holds every candidate: alarm, no AI cap",
      snapshot: snap(96_000, [miner("recent", 3000, 50)], [node("g", [[600, 700]])]),
      ledger: ledger({ recent: { wokeAt: NOW - 60_000 } }),
      want: [],
      alarms: ["shed-held-min-on"],
    },
    {
      name: "emergency (P > B + emergencyMarginW) ignores minOnS",
      snapshot: snap(151_000, [miner("recent", 3000, 50)]),
      ledger: ledger({ recent: { wokeAt: NOW - 60_000 } }),
      want: ["sleep:recent"],
      alarms: ["emergency", "over-budget"],
    },
    {
      name: "excluded devices and miners that cannot sleep are never touched",
      snapshot: snap(96_000, [
        miner("maint", 3000, 10, { excluded: true }),
        miner("nocap", 3000, 10, { capabilities: ["reboot"] }),
        miner("ok", 3000, 100),
      ]),
      want: ["sleep:ok"],
    },
    {
      name: "a failed device is skipped for the next candidate",
      snapshot: snap(96_000, [miner("broken", 3000, 10), miner("ok", 3000, 100)]),
      ledger: ledger({ broken: { failedUntil: NOW + 1 } }),
      want: ["sleep:ok"],
    },
    {
      name: "a failure that has expired no longer skips",
      snapshot: snap(96_000, [miner("broken", 3000, 10), miner("ok", 3000, 100)]),
      ledger: ledger({ broken: { failedUntil: NOW } }),
      want: ["sleep:broken"],
    },
    {
      name: "pending sheds count: no second shed while the first is unconfirmed",
      snapshot: snap(96_000, [miner("a", 3000, 10), miner("b", 3000, 100)]),
      ledger: ledger({ a: { pendingShed: { expectedW: 3000, issuedAt: NOW - 2000 } } }),
      want: [],
    },
    {
      name: "sleeping, faulted and unknown-power miners are not shed",
      snapshot: snap(96_000, [
        asleep("z"),
        miner("f", 3000, 0, { state: "faulted", powerW: 0 }),
        miner("u", 0, 100, { powerW: null }),
        miner("ok", 3000, 100),
      ]),
      want: ["sleep:ok"],
    },
    {
      name: "power-limit-then-sleep: limit where the dialect can, sleep the rest",
      snapshot: snap(96_000, [
        miner("pl", 3000, 100, { capabilities: ["sleep", "wake", "setPowerLimit"], minPowerLimitW: 2000 }),
        miner("plain", 3000, 90),
      ]),
      config: { strategy: "power-limit-then-sleep" },
      // need 1 kW: the limit step covers it; "plain" is worse J/TH but cannot limit
      want: ["setPowerLimit:pl"],
    },
    {
      name: "power-limit-then-sleep: limits are not enough → sleeps; a limited miner that sleeps is not also limited",
      snapshot: snap(104_000, [
        miner("pl", 3000, 100, { capabilities: ["sleep", "wake", "setPowerLimit"], minPowerLimitW: 2000 }),
        miner("plain", 3000, 90),
        miner("last", 3000, 50),
      ]),
      config: { strategy: "power-limit-then-sleep" },
      // need 9 kW: limit pl (−1 kW), sleep plain (−3), last (−3), pl (−2 more) = 9
      want: ["sleep:last", "sleep:plain", "sleep:pl"],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const p = plan(c.snapshot, B, { ...CFG, ...c.config }, c.ledger ?? ledger(), NOW);
      assert.deepEqual(short(p), c.want);
      if (c.alarms)
        assert.deepEqual(
          p.alarms.map((a) => a.code),
          c.alarms,
        );
      for (const a of p.actions) assert.ok(a.expectedDeltaW <= 0, "sheds lower power");
    });
  }

  test("the limit step sets exactly what is needed, not below the floor", () => {
    const m = miner("pl", 3000, 100, { capabilities: ["setPowerLimit"], minPowerLimitW: 2000 });
    const p1 = plan(snap(95_600, [m]), B, { ...CFG, strategy: "power-limit-then-sleep" }, ledger(), NOW);
    assert.deepEqual(p1.actions[0], {
      deviceId: "pl",
      kind: "setPowerLimit",
      valueW: 2400,
      expectedDeltaW: -600,
      reason: "over budget: power limit",
    });
    const p2 = plan(snap(99_000, [m]), B, { ...CFG, strategy: "power-limit-then-sleep" }, ledger(), NOW);
    assert.equal(p2.actions[0]?.valueW, 2000);
    assert.deepEqual(
      p2.alarms.map((a) => a.code),
      ["over-budget"],
    );
  });
});

describe("policy: AI is capped only with no mining left, never slept", () => {
  test("mining first: AI untouched while a flexible miner hashes", () => {
    const ms = [miner("a", 3000, 100), miner("b", 3000, 100), miner("c", 3000, 100)];
    const p = plan(snap(100_500, ms, [node("g", [[650, 700]])]), B, CFG, ledger(), NOW);
    assert.deepEqual(short(p), ["sleep:a", "sleep:b"]);
  });

  test("still over with no mining left: caps GPUs towards the floor, lowest priority node first", () => {
    const nodes = [
      node("g-hi", [[650, 700]], { priority: 1 }),
      node("g-b", [
        [650, 700],
        [650, 700],
      ]),
      node("g-a", [[650, 700]]),
    ];
    // over by 3000 + 700: sleeping "a" covers 3000, then 700 from AI
    const p = plan(snap(98_700, [miner("a", 3000, 100)], nodes), B, CFG, ledger(), NOW);
    assert.deepEqual(short(p), ["sleep:a", "capGpu:g-a#0", "capGpu:g-b#0"]);
    assert.equal(p.actions[1]?.valueW, 300); // floor
    assert.equal(p.actions[1]?.expectedDeltaW, -350);
    assert.equal(p.actions[2]?.valueW, 300);
    assert.ok(p.alarms.some((a) => a.code === "ai-capped"));
    assert.ok(!p.actions.some((a) => a.kind === "sleep" && a.deviceId.startsWith("g")));
  });

  test("the floor is the higher of floorW and the GPU's min limit; excluded nodes untouched", () => {
    const n = node("g", [[650, 700]], { floorW: 100 });
    const p = plan(
      snap(120_000, [], [n, node("x", [[650, 700]], { excluded: true })]),
      B,
      CFG,
      ledger(),
      NOW,
    );
    assert.deepEqual(short(p), ["capGpu:g#0"]);
    assert.equal(p.actions[0]?.valueW, 200);
    assert.deepEqual(
      p.alarms.map((a) => a.code),
      ["ai-capped", "over-budget"],
    );
  });
});
