import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  hashrateThs,
  normalizeMiner,
  rows,
  splitMulti,
  statusOf,
  toNumber,
} from "../../drivers/cgminer/normalize.ts";
import { closeTruncated, type Json, parseReplyJson } from "../../drivers/cgminer/repair.ts";
import { parseTextReply } from "../../drivers/cgminer/text.ts";
import { recorded, recordedExchanges } from "../helpers/fixtures.ts";

describe("recorded bfgminer 5.5.0 replies", () => {
  for (const ex of recordedExchanges()) {
    test(`${ex.name} ends with exactly one NUL and parses`, () => {
      assert.equal(ex.reply.at(-1), 0);
      assert.equal(ex.reply.indexOf(0), ex.reply.length - 1);
      const text = ex.reply.toString("utf8");
      const value = ex.name.endsWith(".json") ? parseReplyJson(text).value : parseTextReply(text);
      assert.ok(value && typeof value === "object");
    });
  }

  test("valid JSON takes the fast path with no repairs", () => {
    const { repairs } = parseReplyJson(recorded("summary.json").reply.toString());
    assert.deepEqual(repairs, []);
  });

  test("multi-command reply splits into one reply per command (an array per command)", () => {
    const { value } = parseReplyJson(recorded("summary+pools.json").reply.toString());
    const parts = splitMulti(value, ["summary", "pools"]);
    assert.equal(statusOf(parts.summary)?.code, 11);
    assert.equal(rows(parts.pools, "POOLS")[0]?.URL, "stratum+tcp://127.0.0.1:3333");
  });

  test("text and JSON forms give the same values", () => {
    const json = splitMulti(parseReplyJson(recorded("summary+pools.json").reply.toString()).value, [
      "summary",
      "pools",
    ]);
    const text = splitMulti(parseTextReply(recorded("summary+pools.text").reply.toString()), [
      "summary",
      "pools",
    ]);
    const js = rows(json.summary, "SUMMARY")[0]!;
    const ts = rows(text.summary, "SUMMARY")[0]!;
    assert.equal(toNumber(ts["MHS av"]), js["MHS av"]);
    assert.equal(rows(text.pools, "POOLS")[0]?.User, "worker1");
    assert.equal(statusOf(text.summary)?.letter, "S");
  });

  test("unknown command is an E status with Code 14", () => {
    const { value } = parseReplyJson(recorded("nosuchcmd.json").reply.toString());
    assert.deepEqual(statusOf(value), { letter: "E", code: 14, msg: "Invalid command" });
  });

  test("normalises a CPU miner's MH/s into TH/s and reads pools and uptime", () => {
    const parts = splitMulti(parseReplyJson(recorded("summary+pools.json").reply.toString()).value, [
      "summary",
      "pools",
    ]);
    const version = parseReplyJson(recorded("version.json").reply.toString()).value;
    const r = normalizeMiner({ at: 1, version, summary: parts.summary, pools: parts.pools });
    // "MHS 1s" 2.439 is the shortest average bfgminer reports
    assert.equal(r.hashrateThs, 2.439e-6);
    assert.equal(r.state, "hashing");
    assert.equal(r.uptimeS, 19);
    assert.equal(r.firmware, "cgminer 5.5.0-unknown");
    assert.deepEqual(r.pools, [{ url: "stratum+tcp://127.0.0.1:3333", user: "worker1", status: "Alive" }]);
    assert.equal(r.powerW, null);
  });
});

describe("repair of invalid JSON seen in the field", () => {
  const cases: Array<{ name: string; input: string; check: (v: Json) => void; repair: string }> = [
    {
      name: "Antminer stats: objects glued as }{",
      input: '{"STATUS":[{"STATUS":"S"}],"STATS":[{"BMMiner":"1.0"}{"STATS":0,"fan1":6000}],"id":1}',
      repair: "glued-objects",
      check: (v) => assert.equal(rows(v, "STATS")[1]?.fan1, 6000),
    },
    {
      name: "trailing comma before }",
      input: '{"STATUS":[{"STATUS":"S","Code":11,}],"SUMMARY":[{"MHS 1m":5,}]}',
      repair: "trailing-comma",
      check: (v) => assert.equal(rows(v, "SUMMARY")[0]?.["MHS 1m"], 5),
    },
    {
      name: "leading comma in array [,{",
      input: '{"STATS":[,{"ID":"x"}]}',
      repair: "leading-array-comma",
      check: (v) => assert.equal(rows(v, "STATS")[0]?.ID, "x"),
    },
    {
      name: 'btminer ""temp0 (missing comma after a string)',
      input: '{"SUMMARY":[{"Power Mode":"Normal""temp0":65}]}',
      repair: "missing-comma-after-string",
      check: (v) => assert.equal(rows(v, "SUMMARY")[0]?.temp0, 65),
    },
    {
      name: "Antminer: missing comma after a number",
      input: '{"STATS":[{"temp1":61"temp2":63,"fan1":5000}]}',
      repair: "missing-comma-after-value",
      check: (v) => assert.equal(rows(v, "STATS")[0]?.temp2, 63),
    },
    {
      name: "bare inf / nan",
      input: '{"SUMMARY":[{"GHS av":inf,"Utility":nan,"x":-nan}]}',
      repair: "non-finite",
      check: (v) => assert.equal(rows(v, "SUMMARY")[0]?.["GHS av"], null),
    },
    {
      name: "newlines inside the reply",
      input: '{"SUMMARY":[{"a":1}\n{"b":2}]}',
      repair: "newlines",
      check: (v) => assert.equal(rows(v, "SUMMARY")[1]?.b, 2),
    },
    {
      name: "Whatsminer truncated reply (buffer overflow)",
      input: '{"STATUS":[{"STATUS":"S"}],"SUMMARY":[{"MHS 1m":100000000,"Power":3300,"Error Code 1":"aa',
      repair: "truncated",
      check: (v) => assert.equal(rows(v, "SUMMARY")[0]?.Power, 3300),
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const { value, repairs } = parseReplyJson(`${c.input}\0`);
      assert.ok(repairs.includes(c.repair), `expected repair ${c.repair}, got ${repairs}`);
      c.check(value);
    });
  }

  test("hopeless garbage is a WK_CGMINER_INVALID_REPLY error", () => {
    assert.throws(() => parseReplyJson("{{{{"), { code: "WK_CGMINER_INVALID_REPLY" });
    assert.throws(() => parseReplyJson(""), { code: "WK_CGMINER_INVALID_REPLY" });
  });

  test("closeTruncated keeps only complete members", () => {
    assert.equal(closeTruncated('{"a":[1,2,{"b":3'), '{"a":[1,2]}');
    assert.equal(closeTruncated("{"), null);
  });
});

describe("numbers and hashrate units", () => {
  test("numeric strings become numbers, padded ones too; others null", () => {
    assert.equal(toNumber("7903.729"), 7903.729);
    assert.equal(toNumber(" 41.0000"), 41);
    assert.equal(toNumber(12), 12);
    assert.equal(toNumber("4.11.1"), null);
    assert.equal(toNumber("inf"), null);
    assert.equal(toNumber(null), null);
  });

  test("short averages preferred and units converted", () => {
    assert.equal(hashrateThs({ "GHS 5s": "104012.5", "GHS av": 100000 }), 104.0125);
    assert.equal(hashrateThs({ "MHS 1m": 126000000, "MHS av": 1 }), 126);
    assert.equal(hashrateThs({ "GHS av": 99000 }), 99);
    assert.equal(hashrateThs({ Elapsed: 1 }), null);
  });

  test("Antminer stats: board temps, chip max, fans; zeros are placeholders", () => {
    const stats: Json = {
      STATUS: [{ STATUS: "S" }],
      STATS: [
        { BMMiner: "1.0.0", Type: "Antminer S19j Pro" },
        {
          fan1: 5880,
          fan2: 0,
          fan3: 6000,
          temp1: 0,
          temp2: 71,
          temp3: 73,
          temp2_1: 0,
          temp2_2: 58,
          temp2_3: 60,
          total_rateideal: 104000,
          rate_unit: "GH/s",
        },
      ],
    };
    const summary = { STATUS: [{ STATUS: "S" }], SUMMARY: [{ "GHS 5s": "52000", Elapsed: 3600 }] };
    const r = normalizeMiner({ at: 0, stats, summary, nominalW: 3000 });
    assert.deepEqual(r.boardTempsC, [58, 60]);
    assert.equal(r.chipTempMaxC, 73);
    assert.deepEqual(r.fanRpm, [5880, 6000]);
    assert.equal(r.model, "Antminer S19j Pro");
    // no reported power: nominal × (52 / 104 TH/s)
    assert.equal(r.powerW, 1500);
    assert.equal(r.powerEstimated, true);
  });

  test("zero hashrate: starting early in uptime, sleeping later, faulted without a live pool", () => {
    const summary = (elapsed: number) => ({ SUMMARY: [{ "GHS 5s": 0, Elapsed: elapsed }] });
    assert.equal(normalizeMiner({ at: 0, summary: summary(30) }).state, "starting");
    assert.equal(normalizeMiner({ at: 0, summary: summary(3600) }).state, "sleeping");
    const pools = { POOLS: [{ URL: "stratum+tcp://x", Status: "Dead" }] };
    assert.equal(normalizeMiner({ at: 0, summary: summary(3600), pools }).state, "faulted");
  });
});
