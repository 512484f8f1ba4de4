// The pure planner under budget, one rule at a time: what restores, in what order and
// how much (docs/design.md, The control loop).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { plan, restoreBatchW } from "../../agent/control/policy.ts";
import type { LedgerView, PlanSnapshot, PolicyConfig } from "../../agent/control/types.ts";
import { asleep, B, CFG, ledger, miner, NOW, node, short, sleptBy, snap } from "../helpers/plan.ts";

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
