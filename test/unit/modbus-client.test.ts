// The Modbus connection's rebuild backoff, error classification, and the sim's
// RTU framer (CRC) — no meter needed: a refused loopback port is the dead device.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  classifyModbusError,
  DEFAULT_MODBUS_BACKOFF,
  ModbusConnection,
  rebuildDelayMs,
} from "../../drivers/modbus/client.ts";
import { DriverError } from "../../drivers/types.ts";
import { crc16, exceptionReply, registersReply, takeRequests, withCrc } from "../../sim/modbus/rtu.ts";
import { testPort } from "../helpers/ports.ts";

describe("rebuildDelayMs", () => {
  const b = { baseMs: 100, maxMs: 1000 };
  test("doubles per failure, capped, with equal jitter in [ceiling/2, ceiling]", () => {
    assert.equal(
      rebuildDelayMs(0, b, () => 0.5),
      0,
    );
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((n) => rebuildDelayMs(n, b, () => 1)),
      [100, 200, 400, 800, 1000, 1000],
    );
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((n) => rebuildDelayMs(n, b, () => 0)),
      [50, 100, 200, 400, 500, 500],
    );
    assert.equal(
      rebuildDelayMs(200, b, () => 1),
      1000,
      "no overflow after many failures",
    );
    assert.equal(rebuildDelayMs(3, { baseMs: 0, maxMs: 0 }), 0, "backoff off");
  });
  test("the default stays well inside a 10 s staleness window at first", () => {
    assert.ok(rebuildDelayMs(1, DEFAULT_MODBUS_BACKOFF, () => 1) <= 250);
    assert.ok(rebuildDelayMs(99, DEFAULT_MODBUS_BACKOFF, () => 1) <= 10_000);
  });
});

describe("ModbusConnection rebuild backoff", () => {
  test("a refused connect backs off; calls inside the backoff fail fast with WK_MODBUS_BACKOFF", async () => {
    const port = await testPort();
    let now = 1_000_000;
    const conn = new ModbusConnection(
      { kind: "tcp", host: "127.0.0.1", port },
      { timeoutMs: 500, gapMs: 0, backoff: { baseMs: 1000, maxMs: 8000 }, now: () => now, random: () => 1 },
    );
    try {
      await assert.rejects(
        conn.readRegisters(1, { table: "input", address: 0, length: 2 }),
        (e: DriverError) => {
          assert.equal(e.code, "WK_MODBUS_REFUSED");
          assert.equal(e.retryable, true);
          return true;
        },
      );
      assert.equal(conn.builds, 1);
      assert.deepEqual(conn.health.failures, 1);
      assert.equal(conn.health.retryAt, now + 1000);

      const t0 = Date.now();
      await assert.rejects(
        conn.readRegisters(1, { table: "input", address: 0, length: 2 }),
        (e: DriverError) => {
          assert.equal(e.code, "WK_MODBUS_BACKOFF");
          assert.match(e.message, /not reconnecting for 1000 ms .*WK_MODBUS_REFUSED/);
          return true;
        },
      );
      assert.ok(Date.now() - t0 < 100, "fails fast");
      assert.equal(conn.builds, 1, "no rebuild inside the backoff");

      now += 1000; // backoff over: rebuilt, refused again, the next wait doubles
      await assert.rejects(conn.readRegisters(1, { table: "input", address: 0, length: 2 }), {
        code: "WK_MODBUS_REFUSED",
      });
      assert.equal(conn.builds, 2);
      assert.equal(conn.health.retryAt, now + 2000);
      now += 1999;
      await assert.rejects(conn.readRegisters(1, { table: "input", address: 0, length: 2 }), {
        code: "WK_MODBUS_BACKOFF",
      });
      assert.equal(conn.builds, 2);
    } finally {
      await conn.close();
    }
    await assert.rejects(conn.readRegisters(1, { table: "input", address: 0, length: 2 }), {
      code: "WK_MODBUS_CLOSED",
    });
  });

  test("requests on one connection never overlap", async () => {
    const port = await testPort();
    const conn = new ModbusConnection(
      { kind: "tcp", host: "127.0.0.1", port },
      { timeoutMs: 300, gapMs: 0, backoff: { baseMs: 0, maxMs: 0 } },
    );
    const all = await Promise.allSettled(
      [1, 2, 3].map((u) => conn.readRegisters(u, { table: "input", address: 0, length: 2 })),
    );
    assert.ok(all.every((r) => r.status === "rejected"));
    assert.equal(conn.builds, 3, "each request rebuilt the client in turn (backoff off)");
    await conn.close();
  });
});

describe("classifyModbusError", () => {
  test("stable codes for modbus-serial's errors", () => {
    const c = (e: unknown) => classifyModbusError(e).code;
    assert.equal(
      c(Object.assign(new Error("Modbus exception 2: Illegal data address"), { modbusCode: 2 })),
      "WK_MODBUS_EXCEPTION",
    );
    assert.equal(c(new Error("CRC error")), "WK_MODBUS_CRC");
    assert.equal(c(Object.assign(new Error("Timed out"), { errno: "ETIMEDOUT" })), "WK_MODBUS_TIMEOUT");
    assert.equal(c(new Error("Port Not Open")), "WK_MODBUS_REFUSED");
    assert.equal(c(Object.assign(new Error("x"), { code: "ECONNREFUSED" })), "WK_MODBUS_REFUSED");
    assert.equal(c(new Error("Data length error, expected 9 got 5")), "WK_MODBUS_IO");
    const own = new DriverError("WK_MODBUS_BACKOFF", "x", true);
    assert.equal(classifyModbusError(own), own);
  });
});

describe("sim RTU framer", () => {
  test("CRC-16/MODBUS of a known request (01 03 0000 000A → C5 CD)", () => {
    const req = Buffer.from([0x01, 0x03, 0x00, 0x00, 0x00, 0x0a]);
    assert.equal(crc16(req), 0xcdc5);
    assert.deepEqual([...withCrc(req).subarray(6)], [0xc5, 0xcd]);
  });

  test("frames are cut from a stream, split anywhere; garbage before a frame is skipped", () => {
    const a = withCrc(Buffer.from([0x07, 0x04, 0x00, 0x34, 0x00, 0x02]));
    const b = withCrc(Buffer.from([0x08, 0x03, 0x40, 0x00, 0x00, 0x24]));
    const stream = Buffer.concat([Buffer.from([0xff, 0x00]), a, b]);
    const first = takeRequests(stream.subarray(0, 12));
    assert.deepEqual(first.frames, [{ unitId: 7, fc: 4, address: 0x34, quantity: 2 }]);
    assert.equal(first.crcErrors, 2);
    const second = takeRequests(Buffer.concat([first.rest, stream.subarray(12)]));
    assert.deepEqual(second.frames, [{ unitId: 8, fc: 3, address: 0x4000, quantity: 0x24 }]);
    assert.equal(second.rest.length, 0);
  });

  test("replies carry a valid CRC", () => {
    for (const frame of [registersReply(7, 4, [0x1234, 0xabcd]), exceptionReply(7, 4, 0x0b)]) {
      const body = frame.subarray(0, -2);
      assert.equal(frame.readUInt16LE(frame.length - 2), crc16(body));
    }
    assert.deepEqual([...exceptionReply(7, 4, 0x0b).subarray(0, 3)], [7, 0x84, 0x0b]);
  });
});
