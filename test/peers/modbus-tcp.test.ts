// `probe meter` against a Modbus TCP slave no one here wrote: Debian's
// python3-pymodbus serving an SDM630 map (float32, high word first, FC4).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { requirePeers, runCli, startSlave } from "./modbus/peer.ts";

const SERVED_W = 812_345.6;

describe("probe meter --tcp against pymodbus", () => {
  let slave: Awaited<ReturnType<typeof startSlave>>;
  before(async () => {
    requirePeers(false);
    slave = await startSlave([
      "--tcp",
      "127.0.0.1:0",
      "--unit",
      "3",
      "--power",
      String(SERVED_W),
      "--energy",
      "98765.4",
    ]);
  });
  after(() => slave?.stop());

  test("returns the power it serves within 0.1 %, and the whole JSON shape", async (t) => {
    const res = await runCli([
      "probe",
      "meter",
      "--tcp",
      `127.0.0.1:${slave.ready}`,
      "--unit",
      "3",
      "--profile",
      "sdm630",
      "--json",
    ]);
    assert.equal(res.code, 0, res.err);
    const j = JSON.parse(res.out);
    for (const k of [
      "profile",
      "unitId",
      "powerW",
      "energyKwh",
      "voltageV",
      "currentA",
      "frequencyHz",
      "powerFactor",
    ]) {
      assert.ok(k in j, `missing ${k}`);
    }
    const errPct = (Math.abs(j.powerW - SERVED_W) / SERVED_W) * 100;
    t.diagnostic(`served ${SERVED_W} W, probe read ${j.powerW} W, error ${errPct.toFixed(6)} %`);
    assert.ok(errPct <= 0.1, `${j.powerW} vs ${SERVED_W}`);
    assert.equal(j.profile, "sdm630");
    assert.equal(j.unitId, 3);
    assert.deepEqual(j.voltageV, [230, 231, 229]);
    assert.equal(j.currentA.length, 3);
    assert.ok(Math.abs(j.energyKwh - 98765.4) < 0.01);
    assert.equal(j.frequencyHz, 50);
    assert.ok(Math.abs(j.powerFactor - 0.98) < 1e-6);
  });

  test("a unit that does not answer: exit 1, every value null", async () => {
    const res = await runCli([
      "probe",
      "meter",
      "--tcp",
      `127.0.0.1:${slave.ready}`,
      "--unit",
      "9",
      "--profile",
      "sdm630",
      "--json",
      "--timeout",
      "400",
    ]);
    assert.equal(res.code, 1, res.err);
    const j = JSON.parse(res.out);
    assert.equal(j.powerW, null);
    assert.deepEqual(j.voltageV, [null, null, null]);
    assert.match(j.reason, /WK_MODBUS_/);
  });
});
