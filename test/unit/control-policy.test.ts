// The pure planner, one rule at a time (docs/design.md, The control loop).

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { plan, restoreBatchW } from "../../agent/control/policy.ts";
import type { LedgerView, PlanSnapshot, PolicyConfig } from "../../agent/control/types.ts";
import { asleep, B, gpuNode, ledger, miner, NOW, policyConfig, sleptBy, snap } from "../helpers/plan.ts";

const CFG = policyConfig();
const node = gpuNode;
const short = (p: ReturnType<typeof plan>) =>
  p.actions.map((a) => `${a.kind}:${a.deviceId}${a.gpuIndex === undefined ? "" : `#${a.gpuIndex}`}`);

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

describe("policy: under budget restores", () => {
  const cases: {
    name: string;
    snapshot: PlanSnapshot;
    ledger: LedgerView;
    config?: Partial<PolicyConfig>;
    want: string[];
  }[] = [
    {
      name: "wakes only miners the agent slept, best recorded J/TH first",
      config: { restoreStaggerS: 0 }, // several in one batch: the slope is its own case below
      snapshot: snap(80_000, [asleep("x"), asleep("y"), asleep("other"), asleep("z")]),
      ledger: ledger({ x: sleptBy(3000, 30), y: sleptBy(3000, 20), z: sleptBy(3000, 20) }),
      want: ["wake:y", "wake:z", "wake:x"],
    },
    {
      name: "respects minOffS",
      snapshot: snap(80_000, [asleep("young"), asleep("old")]),
      ledger: ledger({ young: sleptBy(3000, 10, 60_000), old: sleptBy(3000, 30) }),
      want: ["wake:old"],
    },
    {
      name: "not below the restore line (hysteresis): nothing",
      snapshot: snap(86_000, [asleep("x")]),
      ledger: ledger({ x: sleptBy(3000, 30) }),
      want: [],
    },
    {
      name: "headroom caps the wakes: (B − shed) − P = 15 kW → 5 of 6",
      config: { restoreStaggerS: 0 }, // several in one batch: the slope is its own case below
      snapshot: snap(
        80_000,
        ["a", "b", "c", "d", "e", "f"].map((id) => asleep(id)),
      ),
      ledger: ledger(Object.fromEntries(["a", "b", "c", "d", "e", "f"].map((id) => [id, sleptBy(3000, 20)]))),
      want: ["wake:a", "wake:b", "wake:c", "wake:d", "wake:e"],
    },
    {
      name: "unconfirmed wakes eat headroom",
      snapshot: snap(80_000, [asleep("a"), asleep("b"), asleep("c")]),
      ledger: ledger(
        {
          a: sleptBy(3000, 20),
          b: sleptBy(3000, 20),
          c: sleptBy(3000, 20),
          p: { pendingWake: { expectedW: 10_000, issuedAt: NOW - 20_000 } },
        },
        [{ deviceId: "p", expectedW: 0, at: NOW - 70_000 }],
      ),
      // headroom 15 − 10 = 5 kW
      want: ["wake:a"],
    },
    {
      name: "the ramp counts wakes issued in the last 60 s",
      snapshot: snap(60_000, [asleep("a"), asleep("b"), asleep("c")]),
      ledger: ledger({ a: sleptBy(3000, 20), b: sleptBy(3000, 20), c: sleptBy(3000, 20) }, [
        { deviceId: "q", expectedW: 15_000, at: NOW - 30_000 },
      ]),
      want: ["wake:a"],
    },
    {
      name: "wakes older than 60 s no longer count against the ramp",
      config: { restoreStaggerS: 0 }, // several in one batch: the slope is its own case below
      snapshot: snap(60_000, [asleep("a"), asleep("b"), asleep("c")]),
      ledger: ledger({ a: sleptBy(3000, 20), b: sleptBy(3000, 20), c: sleptBy(3000, 20) }, [
        { deviceId: "q", expectedW: 20_000, at: NOW - 60_000 },
      ]),
      want: ["wake:a", "wake:b", "wake:c"],
    },
    {
      name: "batches are restoreStaggerS apart",
      snapshot: snap(60_000, [asleep("a")]),
      ledger: ledger({ a: sleptBy(3000, 20) }, [{ deviceId: "q", expectedW: 1, at: NOW - 9_999 }]),
      want: [],
    },
    {
      name: "excluded, failed, pending and wake-incapable miners are skipped",
      snapshot: snap(60_000, [
        asleep("ex", { excluded: true }),
        asleep("fail"),
        asleep("pend"),
        asleep("nowake", { capabilities: ["sleep"] }),
        asleep("ok"),
      ]),
      ledger: ledger({
        ex: sleptBy(3000, 1),
        fail: { ...sleptBy(3000, 1), failedUntil: NOW + 5000 },
        pend: { ...sleptBy(3000, 1), pendingWake: { expectedW: 3000, issuedAt: NOW - 1000 } },
        nowake: sleptBy(3000, 1),
        ok: sleptBy(3000, 50),
      }),
      want: ["wake:ok"],
    },
    {
      name: "AI caps first, then miners",
      config: { restoreStaggerS: 0 }, // several in one batch: the slope is its own case below
      snapshot: snap(80_000, [asleep("a")], [node("g", [[300, 300]])]),
      ledger: ledger({
        a: sleptBy(3000, 20),
        g: { gpuCaps: new Map([[0, { originalW: 700, at: NOW - 600_000 }]]) },
      }),
      want: ["uncapGpu:g#0", "wake:a"],
    },
    {
      name: "a GPU the agent did not cap is left alone",
      snapshot: snap(80_000, [], [node("g", [[300, 300]])]),
      ledger: ledger(),
      want: [],
    },
    {
      name: "power limits the agent set are restored before wakes",
      config: { restoreStaggerS: 0 }, // several in one batch: the slope is its own case below
      snapshot: snap(80_000, [
        asleep("a"),
        miner("pl", 2000, 100, { capabilities: ["sleep", "wake", "setPowerLimit"] }),
      ]),
      ledger: ledger({ a: sleptBy(3000, 20), pl: { powerLimit: { originalW: 3000, at: NOW - 600_000 } } }),
      want: ["restorePowerLimit:pl", "wake:a"],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const p = plan(c.snapshot, B, { ...CFG, ...c.config }, c.ledger, NOW);
      assert.deepEqual(short(p), c.want);
      for (const a of p.actions) assert.ok(a.expectedDeltaW >= 0, "restores raise power");
    });
  }

  test("a partial AI uncap when the allowance is short; mining waits", () => {
    const p = plan(
      snap(80_000, [asleep("a")], [node("g", [[300, 300]])]),
      B,
      { ...CFG, rampUpWPerMin: 250, restoreStaggerS: 0 },
      ledger({ a: sleptBy(100, 20), g: { gpuCaps: new Map([[0, { originalW: 700, at: 0 }]]) } }),
      NOW,
    );
    assert.deepEqual(short(p), ["uncapGpu:g#0"]);
    assert.equal(p.actions[0]?.valueW, 550);
    assert.equal(p.actions[0]?.expectedDeltaW, 250);
  });

  test("the ramp is a slope: a batch adds at most rampUpWPerMin × restoreStaggerS / 60", () => {
    // 20 kW/min, a batch every 10 s: 3.33 kW a batch, so two 1.5 kW miners, not a minute's worth
    const ids = ["a", "b", "c", "d", "e", "f"];
    const p = plan(
      snap(
        60_000,
        ids.map((id) => asleep(id)),
      ),
      B,
      CFG,
      ledger(Object.fromEntries(ids.map((id) => [id, sleptBy(1500, 20)]))),
      NOW,
    );
    assert.deepEqual(short(p), ["wake:a", "wake:b"]);
    assert.equal(restoreBatchW(CFG), 20_000 / 6);
    assert.ok(p.alarms.some((a) => a.code === "ramp-limited"));
  });

  test("a miner bigger than a batch's share still comes back, one a batch", () => {
    const p = plan(
      snap(60_000, [asleep("big"), asleep("big2")]),
      B,
      CFG,
      ledger({ big: sleptBy(5000, 20), big2: sleptBy(5000, 21) }),
      NOW,
    );
    assert.deepEqual(short(p), ["wake:big"]);
  });

  test("AI uncaps follow the slope too: a partial step of one batch's share", () => {
    const p = plan(
      snap(80_000, [asleep("a")], [node("g", [[300, 300]])]),
      B,
      { ...CFG, rampUpWPerMin: 1_200 },
      ledger({ a: sleptBy(100, 20), g: { gpuCaps: new Map([[0, { originalW: 700, at: 0 }]]) } }),
      NOW,
    );
    assert.deepEqual(short(p), ["uncapGpu:g#0"]);
    assert.equal(p.actions[0]?.expectedDeltaW, 200);
    assert.equal(p.actions[0]?.valueW, 500);
  });

  test("headroomW is reported as (B − shed) − P − pending", () => {
    const p = plan(
      snap(80_000, []),
      B,
      CFG,
      ledger({ p: { pendingWake: { expectedW: 4000, issuedAt: NOW } } }),
      NOW,
    );
    assert.equal(p.headroomW, 100_000 - 5_000 - 80_000 - 4_000);
    assert.equal(p.budgetW, 100_000);
  });
});

describe("policy: unknown power and determinism", () => {
  test("P unknown: plans on device reports, never restores", () => {
    const p = plan(
      snap(null, [miner("a", 60_000, 100), asleep("b")]),
      { budgetW: 50_000 },
      CFG,
      ledger({ b: sleptBy(3000, 1) }),
      NOW,
    );
    assert.deepEqual(short(p), ["sleep:a"]);
    assert.ok(p.alarms.some((a) => a.code === "power-unknown"));
    const q = plan(snap(null, [asleep("b")]), B, CFG, ledger({ b: sleptBy(3000, 1) }), NOW);
    assert.deepEqual(q.actions, []);
  });

  test("the input order does not change the plan", () => {
    const ms = Array.from({ length: 30 }, (_, i) =>
      miner(`m${i}`, 3000, 90 + (i % 4) * 10, { priority: i % 3 }),
    );
    const nodes = [node("g2", [[650, 700]]), node("g1", [[650, 700]])];
    const a = plan(snap(190_000, ms, nodes), B, CFG, ledger(), NOW);
    const b = plan(snap(190_000, [...ms].reverse(), [...nodes].reverse()), B, CFG, ledger(), NOW);
    assert.deepEqual(a, b);
    assert.ok(a.actions.some((x) => x.kind === "capGpu"));
  });
});

describe("policy: rampDownWPerMin", () => {
  // 20 miners of 3 kW; B = 100 kW from an economic cut, the hard sources allow more
  const fleet = Array.from({ length: 20 }, (_, i) => miner(`m${String(i).padStart(2, "0")}`, 3000, 100));
  const shedW = (p: ReturnType<typeof plan>) => p.actions.reduce((s, a) => s + Math.abs(a.expectedDeltaW), 0);
  const cfg = { ...CFG, rampDownWPerMin: 10_000 };

  test("an economic cut is spread: a minute's ramp down at most, in whole miners", () => {
    const p = plan(snap(130_000, fleet), { budgetW: 100_000, hardBudgetW: 200_000 }, cfg, ledger(), NOW);
    assert.ok(shedW(p) <= 10_000 && shedW(p) > 10_000 - 3000, `shed ${shedW(p)} W`);
    assert.ok(p.alarms.some((a) => a.code === "ramp-down-limited"));
    // without the option: all 35 kW at once
    const all = plan(snap(130_000, fleet), { budgetW: 100_000, hardBudgetW: 200_000 }, CFG, ledger(), NOW);
    assert.ok(shedW(all) >= 35_000, `shed ${shedW(all)} W`);
  });

  test("a miner bigger than the minute's share still goes: one at least", () => {
    const p = plan(
      snap(130_000, fleet),
      { budgetW: 100_000, hardBudgetW: 200_000 },
      { ...CFG, rampDownWPerMin: 2_000 },
      ledger(),
      NOW,
    );
    assert.equal(p.actions.length, 1);
  });

  test("sheds of the last 60 s count against it", () => {
    const recent = { ...ledger(), sheds: [{ deviceId: "x", expectedW: 10_000, at: NOW - 30_000 }] };
    const p = plan(snap(130_000, fleet), { budgetW: 100_000, hardBudgetW: 200_000 }, cfg, recent, NOW);
    assert.deepEqual(p.actions, []);
    const later = { ...ledger(), sheds: [{ deviceId: "x", expectedW: 10_000, at: NOW - 60_000 }] };
    assert.ok(
      shedW(plan(snap(130_000, fleet), { budgetW: 100_000, hardBudgetW: 200_000 }, cfg, later, NOW)) > 0,
    );
  });

  test("over a hard budget the loop sheds at once; only the economic part is spread", () => {
    // hard 110 kW: 25 kW forced now, of the 10 kW economic rest the ramp allows 10 kW
    const p = plan(snap(130_000, fleet), { budgetW: 100_000, hardBudgetW: 110_000 }, cfg, ledger(), NOW);
    assert.ok(shedW(p) >= 35_000, `shed ${shedW(p)} W`);
    const q = plan(
      snap(130_000, fleet),
      { budgetW: 100_000, hardBudgetW: 110_000 },
      cfg,
      { ...ledger(), sheds: [{ deviceId: "x", expectedW: 10_000, at: NOW - 1000 }] },
      NOW,
    );
    // the forced 25 kW in whole miners (27 kW), nothing of the economic rest this minute
    assert.ok(shedW(q) >= 25_000 && shedW(q) < 25_000 + 3000, `shed ${shedW(q)} W`);
  });

  test("a signal cut under a program deadline is spread, and still ends before the deadline", () => {
    // 30 kW to cut (a signal; the hard sources allow 200 kW), 10 min to the deadline: the ramp's
    // 10 kW/min is enough (30 kW over 9 min is 3.3 kW/min)
    const early = plan(
      snap(130_000, fleet),
      { budgetW: 100_000, hardBudgetW: 200_000, deadlineAt: NOW + 600_000 },
      cfg,
      ledger(),
      NOW,
    );
    assert.ok(shedW(early) <= 10_000 && shedW(early) > 7_000, `shed ${shedW(early)} W`);
    assert.ok(early.alarms.some((a) => a.message.includes("program deadline")));
    // 2 min left (1 after the safety minute), 10 kW shed in the last 60 s: the rate that ends in
    // time (30 kW a minute) goes past the ramp's 10 kW
    const late = plan(
      snap(130_000, fleet),
      { budgetW: 100_000, hardBudgetW: 200_000, deadlineAt: NOW + 120_000 },
      cfg,
      { ...ledger(), sheds: [{ deviceId: "x", expectedW: 10_000, at: NOW - 30_000 }] },
      NOW,
    );
    assert.ok(shedW(late) >= 20_000, `shed ${shedW(late)} W`);
  });

  test("an emergency sheds everything needed whatever the ramp", () => {
    // an emergency is a breach of the hard budget (P 200 kW > 120 kW + 50 kW): an economic cut
    // alone never is one
    const p = plan(
      snap(200_000, fleet),
      { budgetW: 100_000, hardBudgetW: 120_000 },
      cfg,
      { ...ledger(), sheds: [{ deviceId: "x", expectedW: 10_000, at: NOW - 1000 }] },
      NOW,
    );
    assert.ok(p.alarms.some((a) => a.code === "emergency"));
    assert.ok(shedW(p) >= 60_000, `shed ${shedW(p)} W`);
  });
});
