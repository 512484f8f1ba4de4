// The QSE setpoint register map as pure state: writes judged (out of the map,
// above the contract, a bad enable: refused and not applied), the heartbeat
// deciding whether the setpoint stands, onStale, and the input registers.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ILLEGAL_ADDRESS,
  ILLEGAL_VALUE,
  SetpointRegisters,
  STATUS_BITS,
} from "../../agent/signals/setpoint-registers.ts";

const T0 = 1_800_000_000_000;
const limits = (onStale: "release" | "hold" | "failsafe" = "release") => ({
  maxW: 1_000_000,
  staleS: 60,
  onStale,
  failsafeBudgetW: 300_000,
});
const site = {
  powerW: 340_400,
  budgetW: 250_000,
  flexibleW: 200_000,
  loopHealthy: true,
  meterOk: true,
  failsafe: false,
};

describe("setpoint registers", () => {
  test("a 120 kW setpoint written in one FC16 and enabled is in force while the heartbeat moves", () => {
    const r = new SetpointRegisters(limits(), T0);
    assert.deepEqual(r.view(T0), { state: "idle", budgetW: null, reason: "setpoint released (enable 0)" });
    assert.deepEqual(r.write(0, [0, 120, 1, 7], T0), { ok: true, changed: true });
    assert.deepEqual(r.view(T0 + 59_000), {
      state: "active",
      budgetW: 120_000,
      reason: "setpoint 120 kW from the RTU",
    });
    // one word at a time (FC06) works too; high word first: [1, 0] would be 65,536 kW
    assert.equal(r.write(1, [100], T0 + 1000).ok, true);
    assert.equal(r.setpointKw, 100);
    assert.equal(r.write(0, [1], T0 + 1000).ok, false, "65,636 kW is above the contract");
  });

  test("writes out of range or out of the map are refused whole and change nothing", () => {
    const r = new SetpointRegisters(limits(), T0);
    r.write(0, [0, 120, 1, 1], T0);
    const over = r.write(0, [0, 1001], T0);
    assert.equal(over.ok, false);
    assert.equal((over as { exception: number }).exception, ILLEGAL_VALUE);
    assert.equal(r.setpointKw, 120);
    assert.equal((r.write(2, [2], T0) as { exception: number }).exception, ILLEGAL_VALUE, "enable is 0 or 1");
    assert.equal((r.write(3, [1, 2], T0) as { exception: number }).exception, ILLEGAL_ADDRESS);
    assert.equal((r.write(9, [1], T0) as { exception: number }).exception, ILLEGAL_ADDRESS);
    assert.equal(r.view(T0).budgetW, 120_000);
  });

  test("the heartbeat stops: release, hold or failsafe after staleS", () => {
    for (const [onStale, budgetW] of [
      ["release", null],
      ["hold", 120_000],
      ["failsafe", 300_000],
    ] as const) {
      const r = new SetpointRegisters(limits(onStale), T0);
      r.write(0, [0, 120, 1, 1], T0);
      r.write(3, [2], T0 + 30_000);
      assert.equal(r.view(T0 + 90_000).state, "active", "30 s after the last beat");
      const v = r.view(T0 + 91_000);
      assert.equal(v.state, "stale", onStale);
      assert.equal(v.budgetW, budgetW, onStale);
      assert.match(v.reason, /^heartbeat unchanged for 61 s/);
      // the same value again is not a beat
      r.write(3, [2], T0 + 92_000);
      assert.equal(r.view(T0 + 92_000).state, "stale");
      r.write(3, [3], T0 + 93_000);
      assert.equal(r.view(T0 + 93_000).state, "active");
    }
  });

  test("input registers: site power s32, budget and flexible u32 in kW, status bits, heartbeat echo", () => {
    const r = new SetpointRegisters(limits(), T0);
    r.write(0, [0, 120, 1, 42], T0);
    const words = r.inputs(site, T0);
    assert.deepEqual(words.slice(0, 6), [0, 340, 0, 250, 0, 200]);
    assert.equal(words[6], STATUS_BITS.loopHealthy | STATUS_BITS.inForce | STATUS_BITS.meterOk);
    assert.equal(words[7], 42);
    // export (negative power) in two's complement
    const neg = r.inputs({ ...site, powerW: -5_000 }, T0);
    assert.deepEqual(neg.slice(0, 2), [0xffff, 0xfffb]);
    const stale = r.inputs({ ...site, failsafe: true }, T0 + 61_000);
    assert.equal(stale[6]! & STATUS_BITS.stale, STATUS_BITS.stale);
    assert.equal(stale[6]! & STATUS_BITS.failsafe, STATUS_BITS.failsafe);
  });
});
