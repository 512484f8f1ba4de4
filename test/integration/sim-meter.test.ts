// The simulated SDM630 over real Modbus TCP, read with modbus-serial's client
// (not a wattkeeper driver) and decoded here.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import modbusSerial from "modbus-serial";
import type { MeterProfile } from "../../drivers/modbus/profile.ts";
import { type ModbusMeterSim, startModbusMeterSim } from "../../sim/modbus/meter.ts";
import { PowerModel } from "../../sim/power-model.ts";
import { loadMeterProfile } from "../../sim/profiles.ts";

// modbus-serial is CommonJS: its typings describe the class as `.default`
const ModbusRTU = modbusSerial.default;
type ModbusRTU = InstanceType<typeof ModbusRTU>;

const HOST = "127.62.0.1";

async function client(port: number, unitId = 1): Promise<ModbusRTU> {
  const c = new ModbusRTU();
  await c.connectTCP(HOST, { port });
  c.setID(unitId);
  c.setTimeout(1000);
  return c;
}

const closeClient = (c: ModbusRTU) => new Promise<void>((r) => c.close(() => r()));

function f32(words: number[], at: number): number {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(words[at]!, 0);
  b.writeUInt16BE(words[at + 1]!, 2);
  return b.readFloatBE(0);
}

const fround = Math.fround;

describe("sim Modbus meter (SDM630)", () => {
  let profile: MeterProfile;
  let model: PowerModel;
  let site: ModbusMeterSim;
  let mining: ModbusMeterSim;
  let c: ModbusRTU;
  let now = 1_000_000;

  before(async () => {
    profile = await loadMeterProfile("sdm630");
    model = new PowerModel({ seed: 11, auxW: 4000, now: () => now });
    for (let i = 0; i < 10; i++) model.addMiner(`m${i}`);
    site = await startModbusMeterSim({ host: HOST, port: 5020, unitId: 1, profile, model });
    mining = await startModbusMeterSim({ host: HOST, port: 5021, unitId: 3, profile, model, role: "mining" });
    c = await client(5020);
  });
  after(async () => {
    await closeClient(c);
    await site.stop();
    await mining.stop();
  });

  test("power register (FC4, f32 big-endian at 0x34) = lastPowerW = model total", async () => {
    assert.equal(site.lastPowerW, null);
    const r = await c.readInputRegisters(0x34, 2);
    const p = f32(r.data, 0);
    assert.equal(p, fround(site.lastPowerW!));
    assert.equal(p, fround(model.totalW()));
  });

  test("one block read returns the whole map; unmapped registers read 0", async () => {
    const r = await c.readInputRegisters(0, 0x48);
    const p = f32(r.data, 0x34);
    for (const a of [0, 2, 4]) assert.ok(Math.abs(f32(r.data, a) - 230) <= 1.5, "voltage ≈ 230 V");
    for (const a of [6, 8, 10]) assert.ok(Math.abs(f32(r.data, a) - p / 3 / 230) < 1e-2, "I = P/3/230");
    assert.ok(Math.abs(f32(r.data, 0x46) - 50) <= 0.02, "≈ 50 Hz");
    assert.ok(Math.abs(f32(r.data, 0x3e) - 0.99) <= 0.005, "PF ≈ 0.99");
    assert.deepEqual(r.data.slice(0x0c, 0x34), new Array(0x34 - 0x0c).fill(0));
    assert.equal(p, fround(site.lastPowerW!));
  });

  test("holding registers (FC3) serve the same values", async () => {
    const ir = await c.readInputRegisters(0x34, 2);
    const hr = await c.readHoldingRegisters(0x34, 2);
    assert.deepEqual(hr.data, ir.data);
    const one = await c.readHoldingRegisters(0x35, 1);
    assert.equal(one.data[0], ir.data[1]);
  });

  test("energy register counts kWh from the model's clock", async () => {
    now += 3_600_000;
    const r = await c.readInputRegisters(0x156, 2);
    const kwh = f32(r.data, 0);
    assert.equal(kwh, fround(model.energyKwh("site")));
    assert.ok(Math.abs(kwh - model.totalW() / 1000) < 0.01, `${kwh} kWh after one hour`);
  });

  test("sleeping half the miners lowers site and mining meters accordingly", async () => {
    const before = f32((await c.readInputRegisters(0x34, 2)).data, 0);
    const mc = await client(5021, 3);
    try {
      const miningBefore = f32((await mc.readInputRegisters(0x34, 2)).data, 0);
      assert.equal(miningBefore, fround(model.minersW()));
      let expectedDrop = 0;
      for (let i = 0; i < 5; i++) {
        const w = model.powerW(`m${i}`);
        model.sleep(`m${i}`);
        expectedDrop += w - model.powerW(`m${i}`);
      }
      const after = f32((await c.readInputRegisters(0x34, 2)).data, 0);
      assert.ok(Math.abs(before - after - expectedDrop) < 1, `drop ${before - after} vs ${expectedDrop}`);
      assert.ok(after < before * 0.6);
      const miningAfter = f32((await mc.readInputRegisters(0x34, 2)).data, 0);
      assert.equal(miningAfter, fround(model.minersW()));
      assert.equal(mining.lastPowerW, model.minersW());
    } finally {
      for (let i = 0; i < 5; i++) model.wake(`m${i}`);
      await closeClient(mc);
    }
  });

  test("a foreign unit id gets exception 0x0B (gateway target failed)", async () => {
    const other = await client(5020, 9);
    try {
      await assert.rejects(other.readInputRegisters(0x34, 2), (err: { modbusCode?: number }) => {
        assert.equal(err.modbusCode, 11);
        return true;
      });
    } finally {
      await closeClient(other);
    }
  });

  test("faults: exception 0x04, NaN values, and no reply at all", async () => {
    try {
      site.setFault("exception");
      await assert.rejects(
        c.readInputRegisters(0x34, 2),
        (err: { modbusCode?: number }) => err.modbusCode === 4,
      );
      site.setFault("nan");
      assert.ok(Number.isNaN(f32((await c.readInputRegisters(0x34, 2)).data, 0)));
      site.setFault("timeout");
      const t = await client(5020);
      t.setTimeout(150);
      await assert.rejects(
        t.readInputRegisters(0x34, 2),
        (err: { errno?: string }) => err.errno === "ETIMEDOUT",
      );
      await closeClient(t);
    } finally {
      site.setFault(null);
    }
    assert.ok(f32((await c.readInputRegisters(0x34, 2)).data, 0) > 1000);
  });

  test("noise: readings stay within ±noiseW of the true total", async () => {
    model.noiseW = 500;
    try {
      for (let i = 0; i < 5; i++) {
        const p = f32((await c.readInputRegisters(0x34, 2)).data, 0);
        assert.ok(Math.abs(p - model.totalW()) <= 500.01);
        assert.equal(p, fround(site.lastPowerW!));
      }
    } finally {
      model.noiseW = 0;
    }
  });
});

describe("sim Modbus meter lifecycle", () => {
  test("stop() closes the listener and open connections; port 0 is refused up front", async () => {
    const profile = await loadMeterProfile("sdm630");
    const model = new PowerModel({ seed: 1 });
    const m = await startModbusMeterSim({ host: HOST, port: 5030, unitId: 1, profile, model });
    const c = await client(5030);
    await m.stop();
    await m.stop();
    await closeClient(c);
    const refused = await new Promise<string>((resolve) => {
      const s = net.connect({ host: HOST, port: 5030 });
      s.on("connect", () => {
        s.destroy();
        resolve("connected");
      });
      s.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
    });
    assert.equal(refused, "ECONNREFUSED");
    await assert.rejects(
      startModbusMeterSim({ host: HOST, port: 0, unitId: 1, profile, model }),
      /port must be/,
    );
  });

  test("EADDRINUSE names host:port", async () => {
    const profile = await loadMeterProfile("sdm630");
    const model = new PowerModel({ seed: 1 });
    const a = await startModbusMeterSim({ host: HOST, port: 5031, unitId: 1, profile, model });
    try {
      await assert.rejects(
        startModbusMeterSim({ host: HOST, port: 5031, unitId: 1, profile, model }),
        /127\.62\.0\.1:5031: EADDRINUSE/,
      );
    } finally {
      await a.stop();
    }
  });
});
