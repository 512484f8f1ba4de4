import assert from "node:assert/strict";
import { test } from "node:test";
import { economicBudget } from "../../agent/control/budget.ts";

const prices = (energyPricePerKwh: number) => ({ energyPricePerKwh, hashpricePerThDay: 0.05 });
// 30 J/TH breaks even at ≈0.069/kWh, 20 J/TH at ≈0.104/kWh
const running = [
  { id: "old", powerW: 3000, hashrateThs: 100 },
  { id: "new", powerW: 3000, hashrateThs: 150 },
];

test("nothing at stake: no source", () => {
  assert.equal(
    economicBudget({ powerW: 50_000, running, sleptByAgent: [], prices: prices(0.03), shedMarginW: 1_000 }),
    null,
  );
});

test("unknown prices or power: no source", () => {
  assert.equal(
    economicBudget({
      powerW: 50_000,
      running,
      sleptByAgent: [],
      prices: { energyPricePerKwh: null, hashpricePerThDay: 0.05 },
      shedMarginW: 1_000,
    }),
    null,
  );
  assert.equal(
    economicBudget({ powerW: null, running, sleptByAgent: [], prices: prices(0.08), shedMarginW: 1_000 }),
    null,
  );
});

test("a losing miner: the budget sheds exactly its draw (shed margin added back)", () => {
  const b = economicBudget({
    powerW: 50_000,
    running,
    sleptByAgent: [],
    prices: prices(0.08),
    shedMarginW: 1_000,
  })!;
  assert.equal(b.watts, 50_000 + 1_000 - 3_000);
  assert.match(b.reason, /1 miner lose money at 0.08/);
});

test("losing miners asleep: hold (the budget neither sheds nor wakes)", () => {
  const slept = [{ id: "old", sleptPowerW: 3000, efficiencyJPerTh: 30 }];
  const b = economicBudget({
    powerW: 47_000,
    running: running.slice(1),
    sleptByAgent: slept,
    prices: prices(0.08),
    shedMarginW: 1_000,
  })!;
  assert.equal(b.watts, 48_000);
});

test("a slept miner that pays again is counted back in, so the plan may wake it", () => {
  const slept = [{ id: "old", sleptPowerW: 3000, efficiencyJPerTh: 30 }];
  assert.equal(
    economicBudget({
      powerW: 47_000,
      running: running.slice(1),
      sleptByAgent: slept,
      prices: prices(0.03),
      shedMarginW: 1_000,
    }),
    null,
  );
  const mixed = [...slept, { id: "mid", sleptPowerW: 3000, efficiencyJPerTh: 20 }];
  const b = economicBudget({
    powerW: 44_000,
    running: running.slice(1),
    sleptByAgent: mixed,
    prices: prices(0.08),
    shedMarginW: 1_000,
  })!;
  assert.equal(b.watts, 44_000 + 1_000 + 3_000);
});
