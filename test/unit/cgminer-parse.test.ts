import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { devicesOf, numberAfter, numberedValues } from "../../drivers/cgminer/boards.ts";
import { hashrateThs, rows, splitMulti, statusOf, toNumber } from "../../drivers/cgminer/normalize.ts";
import { normalizeMiner } from "../../drivers/cgminer/reading.ts";
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
    // bfgminer's own name, not the CGMiner API version it also sends
    assert.equal(r.firmware, "bfgminer 5.5.0-unknown");
    assert.deepEqual(r.pools, [{ url: "stratum+tcp://127.0.0.1:3333", user: "worker1", status: "Alive" }]);
    assert.equal(r.powerW, null);
  });
});

describe("recorded bfgminer 5.5.0 with its only device disabled", () => {
  const F = "bfgminer-5.5.0-disabled";
  const multi = () =>
    splitMulti(parseReplyJson(recorded("version+summary+pools+stats.json", F).reply.toString()).value, [
      "version",
      "summary",
      "pools",
      "stats",
    ]);
  const devs = () => parseReplyJson(recorded("devs.json", F).reply.toString()).value;

  test("devs: one PGA, Enabled N", () => {
    assert.deepEqual(devicesOf(devs()), { count: 1, working: 0, disabled: 1, dead: 0, workingThs: null });
  });

  test("with devs: faulted, 0 TH/s, no nameplate power, named bfgminer", () => {
    const p = multi();
    const r = normalizeMiner({ at: 1, ...p, devs: devs(), nominalW: 3500 });
    assert.equal(r.state, "faulted");
    assert.equal(r.reason, "its only device is disabled");
    assert.equal(r.hashrateThs, 0);
    assert.equal(r.powerW, 0);
    assert.equal(r.firmware, "bfgminer 5.5.0-34-g866fd36f");
  });

  test("without devs: the 20 s average still says it mines nothing (never MHS av)", () => {
    const p = multi();
    const r = normalizeMiner({ at: 1, ...p, nominalW: 3500 });
    assert.equal(r.hashrateThs, 0);
    assert.notEqual(r.state, "hashing");
    assert.equal(r.powerW, 0, "no nameplate power for a miner that mines nothing");
  });

  test("the text replies say the same", () => {
    const summary = parseTextReply(recorded("summary.text", F).reply.toString("latin1"));
    const d = parseTextReply(recorded("devs.text", F).reply.toString("latin1"));
    assert.equal(hashrateThs(rows(summary, "SUMMARY")[0]), 0);
    assert.equal(devicesOf(d)?.disabled, 1);
  });
});

describe("devs folded into the state", () => {
  const summary = { STATUS: [{ STATUS: "S" }], SUMMARY: [{ "GHS 5s": "95000", Elapsed: 3600 }] };
  const dev = (over: Record<string, Json>) => ({ Enabled: "Y", Status: "Alive", "MHS 5s": 3.2e7, ...over });
  const devsOf = (...d: Array<Record<string, Json>>) => ({ STATUS: [{ STATUS: "S", Code: 9 }], DEVS: d });

  test('no devices (cgminer Code 10 "No ASCs", bfgminer "No PGAs"): faulted, no hashboards detected', () => {
    for (const msg of ["No ASCs", "No PGAs", "No GPUs"]) {
      const devs = { STATUS: [{ STATUS: "E", Code: 10, Msg: msg }] };
      const r = normalizeMiner({ at: 0, summary, devs, nominalW: 3000 });
      assert.equal(r.state, "faulted", msg);
      assert.equal(r.reason, "no hashboards detected");
      assert.equal(r.hashrateThs, 0);
    }
  });

  test("all dead, or dead and disabled: faulted with the count", () => {
    const r = normalizeMiner({
      at: 0,
      summary,
      devs: devsOf(dev({ Status: "Dead" }), dev({ Enabled: "N" }), dev({ Status: "Dead" })),
    });
    assert.equal(r.state, "faulted");
    assert.equal(r.reason, "no hashboard working (1 disabled, 2 dead of 3)");
  });

  test("some working: hashing, with the boards that are not", () => {
    const r = normalizeMiner({ at: 0, summary, devs: devsOf(dev({}), dev({ Status: "Dead" }), dev({})) });
    assert.equal(r.state, "hashing");
    assert.equal(r.reason, "1 of 3 hashboards not working");
  });

  test("devs unsupported (another error): ignored", () => {
    const devs = { STATUS: [{ STATUS: "E", Code: 14, Msg: "Invalid command" }] };
    assert.equal(devicesOf(devs), null);
    assert.equal(normalizeMiner({ at: 0, summary, devs }).state, "hashing");
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

  test("the shortest window wins, by pattern: bfgminer MHS 20s, cgminer 4.11 MHS 5s/1m/5m/15m", () => {
    // a stopped bfgminer: the lifetime average decays, the 20 s one says 0
    assert.equal(hashrateThs({ "MHS av": 0.49, "MHS 20s": 0 }), 0);
    assert.equal(
      hashrateThs({ "MHS 15m": 4e6, "MHS 5m": 3e6, "MHS 1m": 2e6, "MHS 5s": 1e6, "MHS av": 9 }),
      1,
    );
    assert.equal(hashrateThs({ "GHS 30m": 100_000, "GHS 1m": 90_000 }), 90);
    assert.equal(hashrateThs({ "MHS 1s": 2.439 }), 2.439e-6);
    assert.equal(
      hashrateThs({ "THS 5s": "not a number", "THS av": 7 }),
      7,
      "a short field without a number does not count",
    );
  });

  test("numbered fields: the prefix and digits alone, zeros dropped, in the order of their number", () => {
    const row = {
      fan10: 70,
      fan3: 100,
      fan1: "50",
      fan2: 0,
      fanx: 9,
      fan: 5,
      fan_1: 4,
      temp2_1: 60,
      temp1: 70,
      temp: 1,
    };
    assert.deepEqual(numberedValues(row, "fan"), [50, 100, 70]);
    assert.deepEqual(numberedValues(row, "temp"), [70]);
    assert.deepEqual(numberedValues(row, "temp2_"), [60]);
    assert.deepEqual(numberedValues(undefined, "fan"), []);
    assert.equal(numberAfter("chain_rate12", "chain_rate"), 12);
    assert.equal(numberAfter("chain_rateideal1", "chain_rate"), -1);
    assert.equal(numberAfter("chain_rate", "chain_rate"), -1);
  });

  test("short-average names are matched exactly: unit, space, a number with digits both sides of a dot, s or m", () => {
    assert.equal(hashrateThs({ "ghs 5S": 2000, "GHS av": 9000 }), 2, "any case");
    assert.equal(hashrateThs({ "KHS 2.5m": 3e9, "KHS 3m": 1 }), 3, "2.5 minutes is shorter than 3");
    assert.equal(hashrateThs({ "GHS 0.5s": 1000, "GHS 5s": 2000 }), 1);
    for (const notShort of [
      "GHS 5.s",
      "GHS .5s",
      "GHS 5",
      "GHS 5x",
      "GHS5s",
      "GHS  5s",
      "XHS 5s",
      "GH 5s",
      "GHS 5h",
      "GHS 1.2.3s",
      "GHS -5s",
    ]) {
      assert.equal(
        hashrateThs({ [notShort]: 1000, "GHS av": 7000 }),
        7,
        `${notShort} is not a short average`,
      );
    }
    // the shortest window wins whatever the keys' order
    assert.equal(hashrateThs({ "MHS 1m": 2e6, "GHS 5s": 1000, "THS 20s": 3 }), 1);
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
