// `probe meter --rtu` against pymodbus's RTU slave through a socat pty pair:
// the slave on one end, our RTU client (modbus-serial connectRTUBuffered) on
// the other — real RTU frames with CRC, framed and checked by someone else.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ModbusConnection } from "../../drivers/modbus/client.ts";
import { ModbusMeter } from "../../drivers/modbus/meter.ts";
import { loadMeterProfile } from "../../sim/profiles.ts";
import { requirePeers, runCli, startPtyPair, startSlave } from "./modbus/peer.ts";

const SERVED_W = -4321.5; // exporting: total active power is signed

describe("probe meter --rtu against pymodbus over a socat pty pair", () => {
  let pty: Awaited<ReturnType<typeof startPtyPair>>;
  let slave: Awaited<ReturnType<typeof startSlave>>;
  before(async () => {
    requirePeers(true);
    pty = await startPtyPair();
    slave = await startSlave([
      "--serial",
      pty.b,
      "--baud",
      "9600",
      "--unit",
      "7",
      "--power",
      String(SERVED_W),
    ]);
  });
  after(async () => {
    await slave?.stop();
    await pty?.stop();
  });

  test("returns the power it serves within 0.1 % (signed)", async (t) => {
    const res = await runCli([
      "probe",
      "meter",
      "--rtu",
      pty.a,
      "--baud",
      "9600",
      "--parity",
      "none",
      "--unit",
      "7",
      "--profile",
      "sdm630",
      "--json",
    ]);
    assert.equal(res.code, 0, `${res.err}\n${res.out}`);
    const j = JSON.parse(res.out);
    const errPct = (Math.abs(j.powerW - SERVED_W) / Math.abs(SERVED_W)) * 100;
    t.diagnostic(`served ${SERVED_W} W, probe read ${j.powerW} W, error ${errPct.toFixed(6)} %`);
    assert.ok(errPct <= 0.1, `${j.powerW} vs ${SERVED_W}`);
    assert.ok(j.powerW < 0);
    assert.deepEqual(j.voltageV, [230, 231, 229]);
    assert.equal(j.unitId, 7);
  });

  test("the driver reads repeatedly over one serial link; a wrong unit times out without breaking it", async () => {
    const profile = await loadMeterProfile("sdm630");
    const conn = new ModbusConnection(
      { kind: "rtu", path: pty.a, baudRate: 9600, parity: "none" },
      { timeoutMs: 500, gapMs: 10 },
    );
    try {
      const good = new ModbusMeter(conn, { unitId: 7, profile });
      for (let i = 0; i < 3; i++) {
        const r = await good.read();
        assert.equal(r.ok, true, r.reason ?? "");
        assert.equal(r.powerW, SERVED_W);
      }
      const wrong = await new ModbusMeter(conn, { unitId: 8, profile }).read();
      assert.match(wrong.reason ?? "", /^WK_MODBUS_TIMEOUT/);
      const again = await good.read();
      assert.equal(again.ok, true, again.reason ?? "");
    } finally {
      await conn.close();
    }
  });
});
