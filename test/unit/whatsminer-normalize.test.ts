// Whatsminer v2/v3 replies → MinerReading, including the btminer JSON quirks.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { normalizeV2, normalizeV3 } from "../../drivers/cgminer/dialects/whatsminer/normalize.ts";
import { type Json, parseReplyJson } from "../../drivers/cgminer/repair.ts";

const summary = (fields: Record<string, Json>): Json => ({
  STATUS: [{ STATUS: "S", When: 1, Code: 11, Msg: "Summary", Description: "btminer" }],
  SUMMARY: [fields],
  id: 1,
});
const pools = {
  STATUS: [{ STATUS: "S", Code: 7 }],
  POOLS: [{ URL: "stratum+tcp://p:3333", User: "w", Status: "Alive" }],
};
const status = (off: boolean) => ({
  STATUS: "S",
  When: 1,
  Code: 131,
  Msg: { mineroff: off ? "true" : "false", FirmwareVersion: "'20230301.22.REL'" },
  Description: "",
});

describe("whatsminer v2 normalise", () => {
  test("MHS 1m (MH/s) → TH/s; Power, Power Limit, fans, temps", () => {
    const r = normalizeV2({
      at: 5,
      summary: summary({
        Elapsed: 9000,
        "MHS 5s": 1, // MHS 1m is preferred over the 5 s figure
        "MHS 1m": 125_400_000.5,
        Power: 3270,
        "Power Limit": 3300,
        "Fan Speed In": 4800,
        "Fan Speed Out": 4830,
        "Chip Temp Max": 81.5,
        "Env Temp": 25,
      }),
      pools,
      devs: {
        DEVS: [
          { Slot: 0, Temperature: 62 },
          { Slot: 1, Temperature: 64, "Chip Temp Max": 83 },
        ],
      },
      status: status(false),
      identity: { firmware: "20230301.22.REL", model: "WhatsMiner M50S" },
    });
    assert.equal(r.state, "hashing");
    assert.ok(Math.abs(r.hashrateThs! - 125.4000005) < 1e-9);
    assert.equal(r.powerW, 3270);
    assert.equal(r.powerEstimated, false);
    assert.equal(r.powerLimitW, 3300);
    assert.deepEqual(r.fanRpm, [4800, 4830]);
    assert.deepEqual(r.boardTempsC, [62, 64]);
    assert.equal(r.chipTempMaxC, 83);
    assert.equal(r.uptimeS, 9000);
    assert.equal(r.model, "WhatsMiner M50S");
    assert.equal(r.firmware, "20230301.22.REL");
  });

  test("mineroff true → sleeping; zero hashrate while powered on → starting", () => {
    const off = normalizeV2({
      at: 1,
      summary: summary({ "MHS 1m": 0, Power: 25, Elapsed: 9000 }),
      pools,
      status: status(true),
    });
    assert.equal(off.state, "sleeping");
    assert.match(off.reason!, /mineroff/);
    const on = normalizeV2({
      at: 1,
      summary: summary({ "MHS 1m": 0, Power: 800, Elapsed: 9000 }),
      pools,
      status: status(false),
    });
    assert.equal(on.state, "starting");
    const nostatus = normalizeV2({ at: 1, summary: summary({ "MHS 1m": 0, Elapsed: 9000 }), pools });
    assert.equal(nostatus.state, "sleeping");
  });

  test('the btminer ""temp0 missing comma and a buffer-cut summary are repaired', () => {
    const devs = parseReplyJson(
      '{"STATUS":[{"STATUS":"S"}],"DEVS":[{"Slot":0,"Temperature":61.00,"PCB SN":"HEM0""temp0":70.00}],"id":1}',
    );
    assert.ok(devs.repairs.length > 0);
    const cut = parseReplyJson(
      '{"STATUS":[{"STATUS":"S","Code":11}],"SUMMARY":[{"Elapsed":10,"MHS 1m":100000000.00,"Power":3000,"Error Code 0":2010,"Error Code 1":20',
    );
    assert.ok(cut.repairs.includes("truncated"));
    const r = normalizeV2({ at: 1, summary: cut.value, devs: devs.value });
    assert.equal(r.hashrateThs, 100);
    assert.equal(r.powerW, 3000);
    assert.deepEqual(r.boardTempsC, [61]);
  });
});

describe("whatsminer v3 normalise", () => {
  const st = (s: Record<string, Json>): Json => ({
    code: 0,
    when: 1,
    msg: { summary: s },
    desc: "get.miner.status",
  });
  const dev = (working: string) => ({
    code: 0,
    msg: { miner: { working, type: "M50S" }, system: { fwversion: "20241101.22.REL" } },
  });

  test("hash-realtime is TH/s; power-realtime, power-limit; working false → sleeping", () => {
    const r = normalizeV3({
      at: 2,
      status: st({
        "hash-realtime": 120.5,
        "power-realtime": 3100,
        "power-limit": 3200,
        elapsed: 50_000,
        "fan-speed-in": 4000,
      }),
      device: dev("true"),
    });
    assert.equal(r.state, "hashing");
    assert.equal(r.hashrateThs, 120.5);
    assert.equal(r.powerW, 3100);
    assert.equal(r.powerLimitW, 3200);
    assert.equal(r.model, "M50S");
    assert.equal(r.firmware, "20241101.22.REL");
    const s = normalizeV3({
      at: 2,
      status: st({ "hash-realtime": 0, "power-realtime": 25 }),
      device: dev("false"),
    });
    assert.equal(s.state, "sleeping");
  });

  test("an error code gives a faulted reading", () => {
    assert.equal(normalizeV3({ at: 1, status: { code: -2, msg: "invalid command" } }).state, "faulted");
  });
});
