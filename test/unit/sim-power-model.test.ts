// The sim's power model: seeded determinism, state transitions on an injected
// clock, energy integration and coupled loads.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MINER_MODELS } from "../../sim/models.ts";
import { PowerModel } from "../../sim/power-model.ts";

function fleet(
  seed: number,
  now: () => number,
  extra: Partial<ConstructorParameters<typeof PowerModel>[0]> = {},
) {
  const m = new PowerModel({ seed, now, noiseW: 100, auxW: 5000, ...extra });
  for (let i = 0; i < 20; i++) m.addMiner(`m${i}`);
  return m;
}

describe("sim power model", () => {
  test("same seed → same fleet, same noisy readings, same jitter; another seed differs", () => {
    const t = () => 1_000_000;
    const a = fleet(42, t);
    const b = fleet(42, t);
    const c = fleet(43, t);
    assert.equal(a.totalW(), b.totalW());
    assert.notEqual(a.totalW(), c.totalW());
    const readsA = Array.from({ length: 10 }, () => a.meterW("site"));
    const readsB = Array.from({ length: 10 }, () => b.meterW("site"));
    assert.deepEqual(readsA, readsB);
    assert.ok(
      readsA.every((r) => Math.abs(r - a.totalW()) <= 100),
      "noise within ±noiseW",
    );
    assert.ok(new Set(readsA).size > 1, "noise is drawn at read time");
    assert.deepEqual(
      Array.from({ length: 5 }, () => a.hashrateThs("m3")),
      Array.from({ length: 5 }, () => b.hashrateThs("m3")),
    );
  });

  test("per-unit variation is small and keyed by id, not insertion order", () => {
    const t = () => 0;
    const a = new PowerModel({ seed: 9, now: t });
    const b = new PowerModel({ seed: 9, now: t });
    a.addMiner("x", "antminer-s21");
    a.addMiner("y", "antminer-s21");
    b.addMiner("y", "antminer-s21");
    b.addMiner("x", "antminer-s21");
    assert.equal(a.powerW("x"), b.powerW("x"));
    const nominal = MINER_MODELS["antminer-s21"]!.nominalW;
    assert.ok(Math.abs(a.powerW("x") - nominal) <= nominal * 0.03);
    assert.notEqual(a.powerW("x"), a.powerW("y"));
    const ths = a.hashrateThs("x");
    assert.ok(Math.abs(ths - 200) <= 200 * 0.045, `hashrate near 200, got ${ths}`);
  });

  test("totalW = miners + aux + added loads; loads can be removed", () => {
    const m = new PowerModel({ seed: 1, now: () => 0, auxW: 1234 });
    m.addMiner("a", "antminer-s19j-pro");
    const minersW = m.minersW();
    assert.equal(m.totalW(), minersW + 1234);
    let gpuW = 7000;
    const remove = m.addLoad("gpu-01", () => gpuW);
    assert.equal(m.totalW(), minersW + 1234 + 7000);
    assert.equal(m.classW("ai"), 7000);
    gpuW = 3000;
    assert.equal(m.meterW("ai"), 3000, "no noise configured");
    remove();
    assert.equal(m.totalW(), minersW + 1234);
  });

  test("sleep → tens of watts and 0 TH/s; wake goes through starting for wakeDelayMs", () => {
    let now = 10_000;
    const m = new PowerModel({ seed: 5, now: () => now, wakeDelayMs: 30_000 });
    m.addMiner("a", "antminer-s19j-pro");
    const hashingW = m.powerW("a");
    assert.equal(m.state("a"), "hashing");
    assert.equal(m.sleep("a"), true);
    assert.equal(m.sleep("a"), false, "already asleep");
    assert.equal(m.state("a"), "sleeping");
    assert.ok(m.powerW("a") >= 20 && m.powerW("a") <= 40, `sleep draw ${m.powerW("a")}`);
    assert.equal(m.hashrateThs("a"), 0);
    assert.equal(m.wake("a"), true);
    assert.equal(m.state("a"), "starting");
    assert.equal(m.hashrateThs("a"), 0);
    now += 29_999;
    assert.equal(m.state("a"), "starting");
    now += 1;
    assert.equal(m.state("a"), "hashing");
    assert.equal(m.powerW("a"), hashingW);
    assert.deepEqual(m.countByState(), { hashing: 1, sleeping: 0, starting: 0, faulted: 0 });
  });

  test("wake with the default delay 0 is immediate", () => {
    const m = new PowerModel({ seed: 5, now: () => 0 });
    m.addMiner("a");
    m.sleep("a");
    m.wake("a");
    assert.equal(m.state("a"), "hashing");
  });

  test("faulted: standby draw, no commands; clearing reboots (uptime resets) back to the prior intent", () => {
    let now = 1_000_000;
    const m = new PowerModel({ seed: 2, now: () => now });
    m.addMiner("a");
    m.addMiner("b");
    const events: string[] = [];
    m.onStateChange((id, s, prev) => events.push(`${id}:${prev}>${s}`));
    assert.ok(m.minerView("a").uptimeS > 0);
    m.setFaulted("a", true);
    assert.equal(m.state("a"), "faulted");
    assert.equal(m.sleep("a"), false);
    assert.equal(m.wake("a"), false);
    assert.equal(m.hashrateThs("a"), 0);
    now += 5000;
    m.setFaulted("a", false);
    assert.equal(m.state("a"), "hashing");
    assert.equal(m.minerView("a").uptimeS, 0);
    m.sleep("b");
    m.setFaulted("b", true);
    m.setFaulted("b", false);
    assert.equal(m.state("b"), "sleeping", "a miner slept before the fault stays asleep");
    assert.deepEqual(events, [
      "a:hashing>faulted",
      "a:faulted>hashing",
      "b:hashing>sleeping",
      "b:sleeping>faulted",
      "b:faulted>sleeping",
    ]);
  });

  test("energy integrates power over the clock, per class", () => {
    let now = 0;
    const m = new PowerModel({ seed: 1, now: () => now, auxW: 1000 });
    m.addMiner("a");
    const w = m.minersW();
    now += 3_600_000; // one hour
    assert.ok(Math.abs(m.energyKwh("aux") - 1) < 1e-9);
    assert.ok(Math.abs(m.energyKwh("mining") - w / 1000) < 1e-9);
    m.sleep("a");
    const sleepW = m.minersW();
    now += 1_800_000;
    assert.ok(Math.abs(m.energyKwh("mining") - (w + sleepW / 2) / 1000) < 1e-9);
    assert.ok(Math.abs(m.energyKwh("site") - (m.energyKwh("mining") + m.energyKwh("aux"))) < 1e-9);
  });

  test("starting → hashing is integrated at the transition time, not the next read", () => {
    let now = 0;
    const m = new PowerModel({ seed: 1, now: () => now, wakeDelayMs: 1_800_000 });
    m.addMiner("a");
    m.sleep("a");
    m.wake("a");
    const startingW = m.minersW();
    now += 3_600_000;
    const hashingW = m.minersW();
    assert.ok(Math.abs(m.energyKwh("mining") - (startingW / 2 + hashingW / 2) / 1000) < 1e-9);
  });

  test("a dead chain: that board at 0 and no chips, the others hash on; hashrate and draw fall by its share", () => {
    const t = () => 1_000_000;
    const m = new PowerModel({ seed: 4, now: t });
    m.addMiner("a", "antminer-s19j-pro");
    const before = m.minerView("a");
    m.setChainDead("a", 1, true);
    const v = m.minerView("a");
    assert.deepEqual(v.deadChains, [1]);
    assert.equal(v.chainRatesThs[1], 0);
    assert.ok(v.chainRatesThs[0]! > 30 && v.chainRatesThs[2]! > 30);
    const share = 1 - v.hashrateThs / before.hashrateThs;
    assert.ok(share > 0.3 && share < 0.36, `hashrate fell by ${share}`);
    assert.ok(Math.abs(v.powerW / before.powerW - (1 - share)) < 0.03);
    assert.throws(() => m.setChainDead("a", 3, true), /no chain 3/);
    m.setChainDead("a", 1, false);
    assert.deepEqual(m.minerView("a").deadChains, []);
    // hotter boards and chips by the degrees asked
    m.setExtraTemp("a", 20);
    const hot = m.minerView("a");
    assert.ok(hot.chipTempsC.every((c, i) => c >= before.chipTempsC[i]! + 17));
  });

  test("unknown ids and models fail loudly", () => {
    const m = new PowerModel({ now: () => 0 });
    assert.throws(() => m.state("nope"), /unknown miner/);
    assert.throws(() => m.addMiner("x", "antminer-s99"), /unknown miner model/);
    m.addMiner("x");
    assert.throws(() => m.addMiner("x"), /already exists/);
  });
});
