// The pure planner with unknown power, its determinism, and rampDownWPerMin
// (docs/design.md, The control loop).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { plan } from "../../agent/control/policy.ts";
import { asleep, B, CFG, ledger, miner, NOW, node, short, sleptBy, snap } from "../helpers/plan.ts";

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
