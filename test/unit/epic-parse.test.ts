// ePIC UMC reply parsing (drivers/cgminer/dialects/epic): the documented shapes map to
// a MinerReading; anything else is WK_FIRMWARE_CHANGED with firmware, version
// and what changed; command errors in both UMC versions' forms.
import assert from "node:assert/strict";
import { test } from "node:test";
import { commandError } from "../../drivers/cgminer/dialects/epic/client.ts";
import { fansOf, normalizeEpic, powerTargetOf } from "../../drivers/cgminer/dialects/epic/normalize.ts";
import {
  CapabilitiesSchema,
  describeEpicError,
  type EpicSummary,
  firmwareLabel,
  parseEpic,
  SummarySchema,
  versionOf,
} from "../../drivers/cgminer/dialects/epic/schema.ts";
import { DriverError } from "../../drivers/types.ts";

/** A summary in the documented shape (values made up), with the fields the dialect does not read. */
function summary(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    Software: "PowerPlay-BMS v1.7.2",
    "OS Type": "umcOS",
    Hostname: "unit-7",
    Status: { "Last Command": null, "Last Error": null, "Operating State": "Mining" },
    "Power Supply Stats": { "Input Power": 3012.5, "Output Voltage": 12.6, "Target Voltage": 12600 },
    HBs: [
      { Index: 2, Hashrate: [45_500_000, 98.5, 0.8], Temperature: 61.5, "Core Clock Avg": 480 },
      { Index: 0, Hashrate: [46_000_000, 99.1, 0.8], Temperature: 60.25, "Core Clock Avg": 480 },
      { Index: 1, Hashrate: [0, 0, 0], Temperature: null, "Core Clock Avg": 0 },
    ],
    "Fans Rpm": { "Fans Speed 10": 4100, "Fans Speed 1": 5900, "Fans Speed 2": 0, "Fans Speed 3": null },
    Session: { Uptime: 5400, Accepted: 10, Rejected: 0 },
    Stratum: {
      "Config Id": 1,
      "Current Pool": "backup.example:3333",
      "Current User": "acct.w7",
      IsPoolConnected: true,
    },
    StratumConfigs: [
      { pool: "stratum+tcp://main.example:3333", login: "acct.w7", password: "x" },
      { pool: "stratum+tcp://backup.example:3333", login: "acct.w7", password: "x" },
    ],
    PerpetualTune: {
      Running: true,
      Algorithm: { Power: { Target: 3000, Unit: "W", Optimized: true, "Throttle Step": null } },
    },
    ...over,
  };
}

const caps = {
  Model: "Antminer S19j Pro",
  PerpetualTune: [
    { algorithm: "VoltageOptimizer", name: "Voltage Optimizer", description: "", min: 40, max: 130 },
    { algorithm: "Power", name: "Power", description: "", min: 1500, max: 3400 },
  ],
};

const parsed = (over: Record<string, unknown> = {}) =>
  parseEpic(SummarySchema, summary(over), { what: "GET /summary" });

test("a documented summary normalises fully", () => {
  const r = normalizeEpic({
    at: 1,
    summary: parsed(),
    capabilities: parseEpic(CapabilitiesSchema, caps, { what: "GET /capabilities" }),
    chipTemps: [{ Data: [0, 71.5, 74.25] }, { Data: [0, 0] }],
  });
  assert.equal(r.state, "hashing");
  assert.equal(r.reason, null);
  assert.equal(r.hashrateThs, 91.5);
  assert.equal(r.powerW, 3012.5);
  assert.equal(r.powerEstimated, false);
  assert.equal(r.powerLimitW, 3000);
  assert.equal(r.minPowerLimitW, 1500);
  assert.equal(r.maxPowerLimitW, 3400);
  assert.deepEqual(r.boardTempsC, [60.25, 61.5], "board order, null temperatures left out");
  assert.equal(r.chipTempMaxC, 74.25, "0 means no reading");
  assert.deepEqual(r.fanRpm, [5900, 0, 4100], "numbered order; absent fans out, stopped ones kept");
  assert.deepEqual(r.pools, [
    { url: "stratum+tcp://main.example:3333", user: "acct.w7", status: null },
    { url: "stratum+tcp://backup.example:3333", user: "acct.w7", status: "Alive" },
  ]);
  assert.equal(r.uptimeS, 5400);
  assert.equal(r.firmware, "epic 1.7.2");
  assert.equal(r.model, "Antminer S19j Pro");
});

test("operating states: stopped is asleep, idling with an error is faulted, boot states are starting", () => {
  const state = (op: string, err: unknown = null) =>
    normalizeEpic({
      at: 1,
      summary: parsed({ Status: { "Operating State": op, "Last Error": err } }),
      capabilities: null,
      chipTemps: null,
    });
  assert.equal(state("Idling").state, "sleeping");
  assert.equal(state("Stopping").state, "sleeping");
  for (const op of ["Initializing", "Loading", "PreInitCooldown", "AdjustingClockVoltage", "Rebooting"]) {
    assert.equal(state(op).state, "starting", op);
  }
  const hot = state("Idling", { ShutdownTempReached: [1, 86.5] });
  assert.equal(hot.state, "faulted");
  assert.equal(hot.reason, "Idling: ShutdownTempReached: [1,86.5]");
  assert.equal(
    state("Idling", { NoHashboardsConnected: "there is no hashboard connected" }).state,
    "faulted",
  );
});

test("an operating state this dialect does not know is a firmware change, not a guess", () => {
  assert.throws(
    () => parsed({ Status: { "Operating State": "Hibernating" } }),
    (err: DriverError) =>
      err.code === "WK_FIRMWARE_CHANGED" &&
      /^ePIC firmware "PowerPlay-BMS v1\.7\.2" \(version 1\.7\.2\): GET \/summary is not what the epic dialect knows: "Status"\."Operating State": /.test(
        err.message,
      ) &&
      !err.retryable,
  );
});

test("a field gone or of another type names what changed", () => {
  const s = summary();
  delete (s.Session as Record<string, unknown>).Uptime;
  (s["Power Supply Stats"] as Record<string, unknown>)["Input Power"] = "3012 W";
  assert.throws(
    () => parseEpic(SummarySchema, s, { what: "GET /summary" }),
    (err: DriverError) =>
      err.code === "WK_FIRMWARE_CHANGED" &&
      /"Power Supply Stats"\."Input Power": Invalid input: expected number, received string/.test(
        err.message,
      ) &&
      /"Session"\."Uptime": Invalid input: expected number, received undefined/.test(err.message),
  );
  // without a Software of its own, the reply is named by what the unit said before
  assert.throws(
    () =>
      parseEpic(
        CapabilitiesSchema,
        { Model: 7 },
        { what: "GET /capabilities", software: "PowerPlay-BMS v1.7.2" },
      ),
    /ePIC firmware "PowerPlay-BMS v1\.7\.2" \(version 1\.7\.2\): GET \/capabilities .*"Model"/,
  );
  assert.throws(
    () => parseEpic(SummarySchema, "<html>", { what: "GET /summary" }),
    /ePIC firmware \(version unknown\)/,
  );
});

test("HBs null (boards off) reads as no hashrate", () => {
  const r = normalizeEpic({
    at: 1,
    summary: parsed({ HBs: null, Status: { "Operating State": "Idling" } }),
    capabilities: null,
    chipTemps: null,
  });
  assert.equal(r.hashrateThs, 0);
  assert.deepEqual(r.boardTempsC, []);
});

test("the power limit is the tuner's target only when it tunes to watts", () => {
  const tune = (Algorithm: unknown, Running = true) =>
    powerTargetOf(parsed({ PerpetualTune: { Running, Algorithm } }) as EpicSummary);
  assert.equal(tune({ VoltageOptimizer: { Target: 104, Unit: "TH/s" } }), null);
  assert.equal(tune({ Power: { Target: 2800, Unit: "W" } }), 2800);
  assert.equal(tune({ Power: { Target: 2800, Unit: "W" } }, false), null, "tuner stopped");
  assert.equal(tune({ PowerTune: { Target: 3, Unit: "kW" } }), 3000);
});

test("fans: numbered order", () => {
  assert.deepEqual(
    fansOf(parsed({ "Fans Rpm": { "Fans Speed 12": 1, "Fans Speed 2": 2, "Fans Speed 1": 3 } })),
    [3, 2, 1],
  );
});

test("versions and firmware labels", () => {
  assert.equal(versionOf("PowerPlay-BMS v1.5.13"), "1.5.13");
  assert.equal(versionOf("UMC 1.30.0"), "1.30.0");
  assert.equal(versionOf("umc"), null);
  assert.equal(firmwareLabel("PowerPlay-BMS v1.5.13"), "epic 1.5.13");
  assert.equal(firmwareLabel("umc\u001b[31m"), "epic umc\\x1b[31m");
});

test("command errors in both forms: BadPassword is WK_EPIC_AUTH (final), a pending command is worth a retry", () => {
  for (const e of ["BadPassword", { BadPassword: "Authentication failed" }]) {
    const err = commandError("POST /miner", e);
    assert.equal(err.code, "WK_EPIC_AUTH");
    assert.equal(err.retryable, false);
    assert.match(err.message, /refuses the configured password .*factory default is "letmein"/);
  }
  const busy = commandError("POST /miner", { LastCmdStillPending: "Last command is still pending" });
  assert.equal(busy.code, "WK_EPIC_BUSY");
  assert.equal(busy.retryable, true);
  const refused = commandError("POST /reboot", "RebootFailed");
  assert.deepEqual(
    [refused.code, refused.retryable, refused.message],
    ["WK_EPIC_REFUSED", false, "POST /reboot refused: RebootFailed"],
  );
  assert.ok(commandError("POST /miner", null) instanceof DriverError);
  assert.equal(describeEpicError({ UnknownError: "x".repeat(200) }).length < 140, true);
});
