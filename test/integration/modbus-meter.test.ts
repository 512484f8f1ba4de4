// The Modbus meter driver against the simulated meters on loopback: every
// shipped profile end to end (encode in the sim, decode in the driver), Modbus
// TCP and RTU over TCP (CRC-framed, several meters behind one gateway), and
// each fault the sim injects classified as the driver promises.
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { ModbusConnection, type ModbusEndpoint } from "../../drivers/modbus/client.ts";
import { ModbusMeter } from "../../drivers/modbus/meter.ts";
import type { MeterProfile } from "../../drivers/modbus/profile.ts";
import {
  type ModbusGatewaySim,
  type ModbusMeterSim,
  startModbusGatewaySim,
  startModbusMeterSim,
} from "../../sim/modbus/meter.ts";
import { PowerModel } from "../../sim/power-model.ts";
import { loadMeterProfile } from "../../sim/profiles.ts";
import { testPort } from "../helpers/ports.ts";

const HOST = "127.0.0.1";
const PROFILES = readdirSync(new URL("../../config/meters/", import.meta.url))
  .filter((f) => f.endsWith(".yaml"))
  .map((f) => f.slice(0, -5));

function model(): PowerModel {
  const m = new PowerModel({ seed: 5, auxW: 7000 });
  for (let i = 0; i < 20; i++) m.addMiner(`m${i}`);
  return m;
}

function connect(endpoint: ModbusEndpoint, timeoutMs = 500) {
  return new ModbusConnection(endpoint, { timeoutMs, gapMs: 0, backoff: { baseMs: 0, maxMs: 0 } });
}

describe("every shipped profile, sim → wire → driver", () => {
  for (const name of PROFILES) {
    for (const framing of ["tcp", "rtuOverTcp"] as const) {
      test(`${name} over ${framing}`, async () => {
        const profile = await loadMeterProfile(name);
        const port = await testPort();
        const sim = await startModbusMeterSim({
          host: HOST,
          port,
          unitId: 5,
          profile,
          model: model(),
          framing,
        });
        const conn = connect({ kind: framing, host: HOST, port });
        try {
          const r = await new ModbusMeter(conn, { unitId: 5, profile }).read();
          assert.equal(r.ok, true, r.reason ?? "");
          const served = sim.lastPowerW!;
          // float32 or a scaled integer on the wire: within the register's resolution
          const resolution = Math.max(Math.abs(served) * 1e-6, profile.registers.powerW!.scale);
          assert.ok(Math.abs(r.powerW! - served) <= resolution, `${r.powerW} vs served ${served}`);
          assert.ok(served > 20 * 2500, "the model's site power");
          if (profile.registers.voltageL1V) assert.ok(Math.abs(r.voltageV[0]! - 230) < 2);
          if (profile.registers.frequencyHz) assert.ok(Math.abs(r.frequencyHz! - 50) < 0.2);
          if (profile.registers.energyKwh) assert.ok(r.energyKwh! >= 0);
          assert.ok(
            new ModbusMeter(conn, { unitId: 5, profile }).requestsPerRead <= 3,
            "contiguous registers merged",
          );
        } finally {
          await conn.close();
          await sim.stop();
        }
      });
    }
  }
});

describe("faults, as the driver reports them", () => {
  let profile: MeterProfile;
  let tcp: ModbusMeterSim;
  let rtu: ModbusMeterSim;
  let tcpPort: number;
  let rtuPort: number;
  before(async () => {
    profile = await loadMeterProfile("sdm630");
    const m = model();
    tcpPort = await testPort();
    rtuPort = await testPort();
    tcp = await startModbusMeterSim({ host: HOST, port: tcpPort, unitId: 1, profile, model: m });
    rtu = await startModbusMeterSim({
      host: HOST,
      port: rtuPort,
      unitId: 2,
      profile,
      model: m,
      framing: "rtuOverTcp",
    });
  });
  after(async () => {
    await tcp.stop();
    await rtu.stop();
  });

  for (const framing of ["tcp", "rtuOverTcp"] as const) {
    test(`${framing}: exception, NaN, timeout, and recovery`, async () => {
      const sim = framing === "tcp" ? tcp : rtu;
      const unit = framing === "tcp" ? 1 : 2;
      const conn = connect({ kind: framing, host: HOST, port: framing === "tcp" ? tcpPort : rtuPort }, 300);
      const meter = new ModbusMeter(conn, { unitId: unit, profile });
      try {
        sim.setFault("exception");
        let r = await meter.read();
        assert.equal(r.ok, false);
        assert.match(r.reason!, /^WK_MODBUS_EXCEPTION: device exception 4/);
        assert.equal(r.powerW, null);
        sim.setFault("nan");
        r = await meter.read();
        assert.match(r.reason!, /^WK_MODBUS_NAN/);
        sim.setFault("timeout");
        r = await meter.read();
        assert.match(r.reason!, /^WK_MODBUS_TIMEOUT/);
        assert.deepEqual(r.voltageV, [null, null, null], "no stale values ride along");
        r = await meter.read(); // a second timeout in a row: the link is rebuilt
        assert.match(r.reason!, /^WK_MODBUS_TIMEOUT/);
        sim.setFault(null);
        r = await meter.read();
        assert.equal(r.ok, true, r.reason ?? "");
        assert.equal(r.powerW, Math.fround(sim.lastPowerW!));
        assert.ok(conn.builds >= 2, "rebuilt after the timeout");
      } finally {
        sim.setFault(null);
        await conn.close();
      }
    });
  }

  test("rtuOverTcp: a corrupted CRC is WK_MODBUS_CRC, then it reads again", async () => {
    const conn = connect({ kind: "rtuOverTcp", host: HOST, port: rtuPort }, 300);
    const meter = new ModbusMeter(conn, { unitId: 2, profile });
    try {
      rtu.setFault("crc");
      const r = await meter.read();
      assert.match(r.reason!, /^WK_MODBUS_CRC/);
      rtu.setFault(null);
      assert.equal((await meter.read()).ok, true);
    } finally {
      rtu.setFault(null);
      await conn.close();
    }
  });

  test("frozen: the same words keep coming; the meter is degraded after frozenAfterMs", async () => {
    const conn = connect({ kind: "tcp", host: HOST, port: tcpPort });
    let now = 5_000_000;
    const meter = new ModbusMeter(conn, { unitId: 1, profile, frozenAfterMs: 10_000 });
    try {
      const first = await meter.read(() => now);
      assert.equal(first.ok, true);
      tcp.setFault("frozen");
      const frozenW = (await meter.read(() => now)).powerW; // the last live sample, then served again
      now += 5000;
      const same = await meter.read(() => now);
      assert.equal(same.ok, true, "not yet: 5 s unchanged");
      assert.equal(same.powerW, frozenW);
      now += 5000;
      const r = await meter.read(() => now);
      assert.equal(r.ok, false);
      assert.match(r.reason!, /^WK_MODBUS_FROZEN: every register unchanged for 10 s/);
      tcp.setFault(null);
      now += 1000;
      assert.equal((await meter.read(() => now)).ok, true, "live again");
    } finally {
      tcp.setFault(null);
      await conn.close();
    }
  });

  test("implausible values (outside the profile's range) degrade the meter", async () => {
    const conn = connect({ kind: "tcp", host: HOST, port: tcpPort });
    const narrow: MeterProfile = {
      ...profile,
      registers: { ...profile.registers, powerW: { ...profile.registers.powerW!, max: 1000 } },
    };
    try {
      const r = await new ModbusMeter(conn, { unitId: 1, profile: narrow }).read();
      assert.equal(r.ok, false);
      assert.match(r.reason!, /^WK_MODBUS_IMPLAUSIBLE: powerW \d+(\.\d+)? outside \[-1000000000, 1000\]/);
    } finally {
      await conn.close();
    }
  });
});

describe("several meters behind one RTU-over-TCP gateway", () => {
  let gw: ModbusGatewaySim;
  let port: number;
  let profile: MeterProfile;
  before(async () => {
    profile = await loadMeterProfile("sdm630");
    port = await testPort();
    gw = await startModbusGatewaySim({
      host: HOST,
      port,
      model: model(),
      meters: [
        { unitId: 1, profile, role: "site" },
        { unitId: 2, profile, role: "mining" },
        { unitId: 3, profile, role: "aux" },
      ],
    });
  });
  after(() => gw.stop());

  test("one shared connection, read one at a time, each unit its own values; a dead unit does not stall the rest", async () => {
    // the connection's clock, run ahead to the end of its backoff rather than waiting it out
    let aheadMs = 0;
    const now = () => Date.now() + aheadMs;
    const conn = new ModbusConnection(
      { kind: "rtuOverTcp", host: HOST, port },
      { timeoutMs: 300, gapMs: 5, now },
    );
    const meters = [1, 2, 3].map((u) => new ModbusMeter(conn, { unitId: u, profile }));
    try {
      const readings = await Promise.all(meters.map((m) => m.read()));
      assert.ok(readings.every((r) => r.ok));
      for (const [i, r] of readings.entries()) {
        assert.equal(r.powerW, Math.fround(gw.meters.get(i + 1)!.lastPowerW!));
      }
      assert.ok(readings[0]!.powerW! > readings[1]!.powerW!, "site > mining");
      assert.ok(Math.abs(readings[2]!.powerW! - 7000) < 1, "aux");

      gw.meters.get(2)!.setFault("timeout");
      const [a, b, c] = await Promise.all(meters.map((m) => m.read()));
      assert.match(b!.reason!, /^WK_MODBUS_TIMEOUT/);
      assert.equal(a!.ok, true, a!.reason ?? "");
      assert.equal(c!.ok, true, c!.reason ?? "");
      assert.equal(conn.builds, 1, "a single silent unit does not tear the shared link down");
      // the whole gateway silent: two timeouts in a row rebuild the link, then back off
      for (const u of [1, 3]) gw.meters.get(u)!.setFault("timeout");
      await Promise.all(meters.map((m) => m.read()));
      assert.ok(conn.builds >= 2 || conn.health.failures >= 1, "rebuilt after the gateway went quiet");
      for (const u of [1, 2, 3]) gw.meters.get(u)!.setFault(null);
      aheadMs += Math.max(0, conn.health.retryAt - now());
      assert.equal((await meters[2]!.read()).ok, true, "back after the backoff");
    } finally {
      for (const u of [1, 2, 3]) gw.meters.get(u)!.setFault(null);
      await conn.close();
    }
  });

  test("an absent unit gets 0x0B from the gateway", async () => {
    const conn = connect({ kind: "rtuOverTcp", host: HOST, port });
    try {
      const r = await new ModbusMeter(conn, { unitId: 9, profile }).read();
      assert.match(r.reason!, /^WK_MODBUS_EXCEPTION: device exception 11/);
    } finally {
      await conn.close();
    }
  });
});
