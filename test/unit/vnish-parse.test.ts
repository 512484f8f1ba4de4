// VNish reply parsing (drivers/cgminer/dialects/vnish/schemas.ts) and the step-aware
// power-limit confirmation (drivers/cgminer/driver.ts): pure functions, no sockets.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  drawW,
  parsePresets,
  parseReply,
  parseUptimeS,
  pickStep,
  poolStatus,
  powerSteps,
  StatusSchema,
  SummarySchema,
  stateOf,
  thsPerUnit,
} from "../../drivers/cgminer/dialects/vnish/schemas.ts";
import { confirms, landingStep } from "../../drivers/cgminer/write.ts";
import { DriverError, type MinerReading } from "../../drivers/types.ts";

const FW = "vnish 1.2.6";
const SUMMARY = "/api/v1/summary";

function summary(over: Record<string, unknown> = {}): unknown {
  return {
    miner: {
      miner_status: { miner_state: "mining", miner_state_time: 60 },
      miner_type: "Antminer S19 (Vnish 1.2.6)",
      hr_realtime: 95_000.5,
      power_consumption: 3250,
      power_usage: 3250,
      chains: [{ id: 1, pcb_temp: { min: 50, max: 58 }, chip_temp: { min: 60, max: 70 } }],
      cooling: { fans: [{ id: 0, rpm: 5600 }] },
      pools: [{ url: "stratum+tcp://p:3333", user: "u", status: "working" }],
      ...over,
    },
  };
}

function drift(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof DriverError);
    assert.equal(err.code, "WK_FIRMWARE_CHANGED");
    assert.equal(err.retryable, false);
    return err.message;
  }
  assert.fail("expected WK_FIRMWARE_CHANGED");
}

test("uptime texts: H:MM, days with H:MM, days with minutes; anything else is null", () => {
  assert.equal(parseUptimeS("0:06"), 360);
  assert.equal(parseUptimeS("10 days, 18:00"), (10 * 24 + 18) * 3600);
  assert.equal(parseUptimeS("1 day, 5 min"), 86_400 + 300);
  assert.equal(parseUptimeS("up 3 days"), 3 * 86_400);
  assert.equal(parseUptimeS("12 min"), 720);
  for (const bad of ["", "soon", "1:75", "3600", "1 week"]) assert.equal(parseUptimeS(bad), null, bad);
});

test("hashrate units from hr_measure; absent or N/A means GH/s", () => {
  assert.equal(thsPerUnit("GH/s"), 1e-3);
  assert.equal(thsPerUnit(undefined), 1e-3);
  assert.equal(thsPerUnit("N/A"), 1e-3);
  assert.equal(thsPerUnit("TH/s"), 1);
  assert.equal(thsPerUnit("MH/s"), 1e-6);
  assert.equal(thsPerUnit("PH/s"), null);
});

test("a summary with either power field reads; a number turned string names version, field and value", () => {
  assert.equal(drawW(parseReply(SummarySchema, summary(), { fw: FW, endpoint: SUMMARY })), 3250);
  const usageOnly = summary({ power_consumption: undefined, power_usage: 3100 });
  assert.equal(drawW(parseReply(SummarySchema, usageOnly, { fw: FW, endpoint: SUMMARY })), 3100);
  assert.equal(
    drift(() =>
      parseReply(SummarySchema, summary({ power_consumption: undefined, power_usage: "3100" }), {
        fw: FW,
        endpoint: SUMMARY,
      }),
    ),
    'vnish 1.2.6: /api/v1/summary miner.power_usage: expected number, got string "3100"',
  );
  assert.equal(
    drift(() =>
      parseReply(SummarySchema, summary({ power_consumption: undefined, power_usage: undefined }), {
        fw: FW,
        endpoint: SUMMARY,
      }),
    ),
    "vnish 1.2.6: /api/v1/summary miner.power_consumption: expected power_consumption or power_usage (a number), got nothing (field gone)",
  );
  assert.match(
    drift(() => parseReply(SummarySchema, summary({ chains: {} }), { fw: FW, endpoint: SUMMARY })),
    /miner\.chains: expected array, got object$/,
  );
  assert.match(
    drift(() => parseReply(StatusSchema, null, { fw: FW, endpoint: "/api/v1/status" })),
    /\/api\/v1\/status \(reply\): expected object, got null$/,
  );
});

test("miner states: known words map, an unknown one is a firmware change", () => {
  assert.equal(stateOf("mining", FW, SUMMARY), "hashing");
  assert.equal(stateOf("auto-tuning", FW, SUMMARY), "hashing");
  assert.equal(stateOf("paused", FW, SUMMARY), "sleeping");
  assert.equal(stateOf("stopped", FW, SUMMARY), "sleeping");
  assert.equal(stateOf("starting", FW, SUMMARY), "starting");
  assert.equal(stateOf("failure", FW, SUMMARY), "faulted");
  assert.equal(
    drift(() => stateOf("hibernating", FW, SUMMARY)),
    'vnish 1.2.6: /api/v1/summary miner_state: unknown state "hibernating"',
  );
  assert.equal(poolStatus("working"), "Alive");
  assert.equal(poolStatus("offline"), "Dead");
  assert.equal(poolStatus("rejecting"), "rejecting");
});

test("presets: bare or wrapped; steps from wattage names, without 'disabled' or modded-PSU presets", () => {
  const list = [
    { name: "disabled", pretty: "Disabled", status: "untuned", modded_psu_required: false },
    { name: "3250", pretty: "3250 watt ~ 100 TH", status: "tuned", modded_psu_required: false },
    { name: "2100", pretty: "2100 watt ~ 78 TH", status: "untuned", modded_psu_required: false },
    { name: "4690", pretty: "4690 watt ~ 124 TH", status: "tuned", modded_psu_required: true },
  ];
  const steps = powerSteps(parsePresets(list, FW));
  assert.deepEqual(steps, [
    { name: "2100", watts: 2100 },
    { name: "3250", watts: 3250 },
  ]);
  assert.deepEqual(powerSteps(parsePresets({ presets: list }, FW)), steps);
  assert.match(
    drift(() => parsePresets({ list }, FW)),
    /autotune\/presets presets: expected array, got nothing/,
  );
  assert.equal(pickStep(steps, 3000)?.name, "2100");
  assert.equal(pickStep(steps, 3250)?.name, "3250");
  assert.equal(pickStep(steps, 2000), null);
});

test("a target between power steps is confirmed by the step it lands on, not the target", () => {
  const base: MinerReading = {
    at: 0,
    state: "hashing",
    reason: null,
    hashrateThs: 90,
    powerW: 2560,
    powerEstimated: false,
    powerLimitW: 2560,
    powerLimitStepsW: [1660, 2260, 2560, 2860],
    boardTempsC: [],
    chipTempMaxC: null,
    fanRpm: [],
    pools: [],
    uptimeS: 100,
    firmware: FW,
    model: null,
  };
  assert.equal(landingStep([1660, 2260, 2560, 2860], 2700), 2560);
  assert.equal(landingStep([1660], 1000), null);
  assert.equal(landingStep(null, 1000), null);
  assert.equal(confirms({ action: "setPowerLimit", value: 2700 }, base, base), true);
  assert.equal(
    confirms({ action: "setPowerLimit", value: 2700 }, base, { ...base, powerLimitW: 2260 }),
    false,
  );
  // without steps the limit must match the target, as before
  assert.equal(
    confirms({ action: "setPowerLimit", value: 2700 }, base, { ...base, powerLimitStepsW: null }),
    false,
  );
  assert.equal(
    confirms({ action: "setPowerLimit", value: 2560 }, base, { ...base, powerLimitStepsW: null }),
    true,
  );
});
