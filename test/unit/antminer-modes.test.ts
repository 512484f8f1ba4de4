// The stock Antminer's work modes as power steps (drivers/cgminer/dialects/
// antminer/modes.ts), the low-power figure in the model schema and the shipped models,
// the locate LED's reply, and what makes a CGMiner `version` reply stock Bitmain.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { loadModelFiles } from "../../config/load.ts";
import { isStockBitmain } from "../../drivers/cgminer/detect.ts";
import { modeForTarget, powerStepsOf, stepOfMode } from "../../drivers/cgminer/dialects/antminer/modes.ts";
import { blinkOf, WORK_MODE } from "../../drivers/cgminer/dialects/antminer/web-client.ts";
import { type KnownModel, MinerModelSchema, ModelCatalog } from "../../drivers/cgminer/models.ts";
import { landingStep } from "../../drivers/cgminer/write.ts";

const model = (lowPowerW?: number): KnownModel => ({
  ...MinerModelSchema.parse({
    name: "Antminer X",
    nominalW: 3000,
    nominalThs: 100,
    sleepW: 30,
    wakeUpS: 300,
    lowPowerW,
  }),
  origin: "test",
});

describe("power steps", () => {
  test("the steps are [low-power draw, nameplate]; none without a low-power figure or a model", () => {
    assert.deepEqual(powerStepsOf(model(2100)), [2100, 3000]);
    assert.equal(powerStepsOf(model()), null);
    assert.equal(powerStepsOf(null), null);
  });

  test("one frozen pair per model, the same at every call (every poll of every unit reports it)", () => {
    const m = model(2100);
    const steps = powerStepsOf(m);
    assert.equal(powerStepsOf(m), steps);
    assert.ok(Object.isFrozen(steps));
    assert.notEqual(powerStepsOf(model(2100)), steps, "another model object: its own pair");
    const none = model();
    assert.equal(powerStepsOf(none), null);
    assert.equal(powerStepsOf(none), null);
  });

  test("a target lands on the highest step at or below it, as the driver and the planner count it", () => {
    const steps = powerStepsOf(model(2100))!;
    for (const [target, mode, stepW] of [
      [2100, WORK_MODE.low, 2100],
      [2500, WORK_MODE.low, 2100],
      [2999, WORK_MODE.low, 2100],
      [3000, WORK_MODE.normal, 3000],
      [3300, WORK_MODE.normal, 3000],
    ] as const) {
      assert.deepEqual(modeForTarget(steps, target), { mode, stepW }, `${target} W`);
      assert.equal(landingStep(steps, target), stepW, `${target} W: the driver expects the same step`);
    }
    assert.equal(modeForTarget(steps, 2099), null);
  });

  test("the step a mode runs at: normal and low only", () => {
    const steps = powerStepsOf(model(2100))!;
    assert.equal(stepOfMode(steps, WORK_MODE.normal), 3000);
    assert.equal(stepOfMode(steps, WORK_MODE.low), 2100);
    for (const m of [WORK_MODE.sleep, WORK_MODE.high, null, 7]) assert.equal(stepOfMode(steps, m), null);
  });
});

describe("lowPowerW in the models", () => {
  test("must lie between the sleep draw and the nameplate", () => {
    const base = { name: "Antminer X", nominalW: 3000, nominalThs: 100, sleepW: 30, wakeUpS: 300 };
    for (const lowPowerW of [3000, 3500, 30, 10, 0, -5]) {
      const r = MinerModelSchema.safeParse({ ...base, lowPowerW });
      assert.equal(r.success, false, `${lowPowerW} W`);
      assert.deepEqual(r.error!.issues[0]!.path, ["lowPowerW"]);
    }
    assert.equal(MinerModelSchema.safeParse({ ...base, lowPowerW: 2100 }).success, true);
  });

  test("the shipped Antminers have one inside their power-limit range; the S19k Pro (no mode 3) has none", async () => {
    const c = new ModelCatalog(await loadModelFiles([]));
    for (const name of [
      "Antminer S19",
      "Antminer S19 Pro",
      "Antminer S19j Pro",
      "Antminer S19 XP",
      "Antminer S21",
      "Antminer S21 Pro",
      "Antminer S21 XP",
      "Antminer S21+ Hyd",
      "Antminer T21",
    ]) {
      const m = c.find(name)!;
      assert.ok(m.lowPowerW, name);
      assert.ok(m.powerLimitW && m.lowPowerW! >= m.powerLimitW.min, `${name}: inside the range`);
    }
    assert.equal(c.find("Antminer S19k Pro")?.lowPowerW, undefined);
  });
});

test("get_blink_status: a boolean, or its string; anything else is not an answer", () => {
  assert.equal(blinkOf({ blink: true }), true);
  assert.equal(blinkOf({ blink: "false" }), false);
  assert.equal(blinkOf({ blink: " TRUE " }), true);
  for (const bad of [{}, { blink: 1 }, { blink: "yes" }, null, "true", []]) assert.equal(blinkOf(bad), null);
});

test("stock Bitmain: a BMMiner version or an Antminer Type, not other firmware on an Antminer", () => {
  const v = (item: Record<string, string>) => JSON.stringify({ VERSION: [item] });
  assert.equal(isStockBitmain(v({ BMMiner: "4.11.1", CGMiner: "4.11.1", Type: "Antminer S19j Pro" })), true);
  assert.equal(isStockBitmain(v({ CGMiner: "4.9.0", Type: "Antminer S9" })), true);
  assert.equal(isStockBitmain(v({ CGMiner: "4.11.1", API: "3.7" })), false);
  assert.equal(isStockBitmain(v({ Miner: "bfgminer 5.5.0", CGMiner: "5.5.0" })), false);
  assert.equal(isStockBitmain(v({ BMMiner: "4.11.1", Type: "Antminer S19 XP (Vnish 1.2.6)" })), false);
});
