// Program presets: ERS deadlines (a drop to be met within 10 / 30 min, minOnS
// not allowed to hold a miner past the deadline) and 4CP / 12CP peak windows.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { budgetWindows, effectiveBudget } from "../../agent/control/budget.ts";
import { plan } from "../../agent/control/policy.ts";
import { DeadlineWatch } from "../../agent/control/programs.ts";
import type { PlanSnapshot } from "../../agent/control/types.ts";

const T0 = Date.parse("2026-07-15T20:00:00Z");

describe("ERS deadline watch", () => {
  test("a drop opens a deadline; met under the budget; raised budgets close it", () => {
    const w = new DeadlineWatch([{ name: "ERS-10", deadlineS: 600 }]);
    assert.deepEqual(w.note({ budgetW: 400_000, powerW: 380_000, shedMarginW: 10_000 }, T0), []);
    const set = w.note({ budgetW: 200_000, powerW: 380_000, shedMarginW: 10_000 }, T0 + 1000);
    assert.equal(set[0]?.kind, "program-deadline-set");
    assert.equal(w.deadlineAt, T0 + 1000 + 600_000);
    assert.deepEqual(
      w.note({ budgetW: 200_000, powerW: 195_000, shedMarginW: 10_000 }, T0 + 30_000),
      [],
      "not under budget − margin yet",
    );
    const met = w.note({ budgetW: 200_000, powerW: 185_000, shedMarginW: 10_000 }, T0 + 61_000);
    assert.equal(met[0]?.kind, "program-deadline-met");
    assert.deepEqual(met[0]?.data, { program: "ERS-10", budgetW: 200_000, seconds: 60, met: true });
    assert.equal(w.deadlineAt, null);
  });
  test("missed once at the deadline; the tightest program sets it", () => {
    const w = new DeadlineWatch([
      { name: "ERS-30", deadlineS: 1800 },
      { name: "ERS-10", deadlineS: 600 },
    ]);
    w.note({ budgetW: 400_000, powerW: 380_000, shedMarginW: 0 }, T0);
    w.note({ budgetW: 100_000, powerW: 380_000, shedMarginW: 0 }, T0);
    assert.equal(w.deadlineAt, T0 + 600_000);
    assert.equal(
      w.note({ budgetW: 100_000, powerW: 300_000, shedMarginW: 0 }, T0 + 600_001)[0]?.kind,
      "program-deadline-missed",
    );
    assert.deepEqual(
      w.note({ budgetW: 100_000, powerW: 300_000, shedMarginW: 0 }, T0 + 700_000),
      [],
      "said once",
    );
  });
});

describe("ERS deadline in the policy", () => {
  const miner = (id: string) => ({
    id,
    priority: 0,
    state: "hashing" as const,
    powerW: 3000,
    hashrateThs: 100,
    capabilities: ["sleep", "wake"] as ("sleep" | "wake")[],
    excluded: false,
    powerLimitW: null,
    minPowerLimitW: null,
  });
  const snapshot: PlanSnapshot = {
    powerW: 6000,
    powerSource: "meter",
    powerAt: T0,
    miners: [miner("a"), miner("b")],
    gpuNodes: [],
  };
  const config = {
    shedMarginW: 0,
    restoreMarginW: 1000,
    emergencyMarginW: 1e9,
    minOnS: 900,
    minOffS: 0,
    rampUpWPerMin: 1e9,
    restoreStaggerS: 0,
    strategy: "sleep" as const,
  };
  // both woken a minute ago: minOnS (15 min) holds them
  const ledger = {
    devices: new Map([
      ["a", { wokeAt: T0 - 60_000 }],
      ["b", { wokeAt: T0 - 60_000 }],
    ]),
    restores: [],
  };
  test("without a deadline minOnS holds; with one that ends before minOnS, they are shed", () => {
    assert.deepEqual(plan(snapshot, { budgetW: 3000 }, config, ledger, T0).actions, []);
    const p = plan(snapshot, { budgetW: 3000, deadlineAt: T0 + 600_000 }, config, ledger, T0);
    assert.deepEqual(
      p.actions.map((a) => [a.kind, a.deviceId]),
      [["sleep", "a"]],
    );
    // a deadline after minOnS ends: holding them still meets it
    assert.deepEqual(
      plan(snapshot, { budgetW: 3000, deadlineAt: T0 + 3_600_000 }, config, ledger, T0).actions,
      [],
    );
  });
});

describe("4CP and 12CP windows", () => {
  const config = {
    site: { timezone: "America/Chicago", contractLimitW: 24_000_000 },
    control: {
      schedule: [],
      failsafeBudgetW: 10_000_000,
      programs: [
        {
          kind: "4cp" as const,
          name: "4CP peak window",
          months: [6, 7, 8, 9],
          days: ["mon", "tue", "wed", "thu", "fri"] as ("mon" | "tue" | "wed" | "thu" | "fri")[],
          from: "15:00",
          to: "18:00",
          budgetW: 5_000_000,
        },
      ],
    },
  };
  test("a 4CP window is a schedule source by its name, in the site's time zone", () => {
    assert.equal(budgetWindows(config.control).length, 1);
    // 2026-07-15 is a Wednesday; 20:00Z is 15:00 in Chicago (CDT)
    const b = effectiveBudget({}, config, T0);
    assert.deepEqual([b.budgetW, b.source, b.reason], [5_000_000, "schedule", "4CP peak window"]);
    assert.equal(effectiveBudget({}, config, T0 + 4 * 3_600_000).source, "contract");
  });
});
