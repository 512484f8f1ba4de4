// ESP-Miner / AxeOS parsing and facts (drivers/cgminer/dialects/espminer): the info's
// documented variants across releases, drift reported as WK_FIRMWARE_CHANGED,
// the states a reading takes, and the capabilities each version has.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  atLeast,
  modelName,
  parseAxeosVersion,
  withdrawnFor,
} from "../../drivers/cgminer/dialects/espminer/facts.ts";
import { looksLikeAxeos, parseInfo, readingFromInfo } from "../../drivers/cgminer/dialects/espminer/info.ts";
import { DriverError } from "../../drivers/types.ts";

/** The keys every release since v2.0 sends, as v2.14 writes them. */
const V214 = {
  power: 18.25,
  voltage: 5031,
  current: 3620,
  temp: 57.5,
  vrTemp: 48,
  hashRate: 1071.4,
  bestDiff: 4290000000,
  coreVoltage: 1150,
  frequency: 525,
  uptimeSeconds: 86400,
  ASICModel: "BM1370",
  stratumURL: "public-pool.io",
  stratumPort: 21496,
  stratumUser: "bc1qexample.bitaxe",
  fallbackStratumURL: "solo.ckpool.org",
  fallbackStratumPort: 3333,
  fallbackStratumUser: "bc1qexample.bitaxe",
  isUsingFallbackStratum: 0,
  version: "v2.14.0",
  axeOSVersion: "v2.14.0",
  boardVersion: "601",
  fanrpm: 4120,
  fan2rpm: 0,
  overheat_mode: 0,
  miningPaused: false,
};

/** v2.0.0: no boardVersion, fanSpeed instead of fanrpm, bestDiff a string. */
const V200 = {
  power: 12.1,
  voltage: 5010,
  current: 2400,
  fanSpeed: 80,
  temp: 52,
  hashRate: 480.2,
  bestDiff: "1.2G",
  coreVoltage: 1400,
  frequency: 425,
  uptimeSeconds: 3600,
  ASICModel: "BM1397",
  stratumURL: "public-pool.io",
  stratumPort: 21496,
  stratumUser: "bc1qexample",
  version: "v2.0.0",
};

const changed = (what: RegExp) => (err: unknown) =>
  err instanceof DriverError &&
  err.code === "WK_FIRMWARE_CHANGED" &&
  !err.retryable &&
  what.test(err.message);

describe("AxeOS info", () => {
  test("v2.14: GH/s → TH/s, watts, temperatures, fans, pools, firmware and model", () => {
    const r = readingFromInfo(parseInfo(V214), 1000);
    assert.equal(r.state, "hashing");
    assert.ok(r.hashrateThs !== null && Math.abs(r.hashrateThs - 1.0714) < 1e-9, `${r.hashrateThs}`);
    assert.equal(r.powerW, 18.25);
    assert.equal(r.chipTempMaxC, 57.5);
    assert.deepEqual(r.boardTempsC, [48]);
    assert.deepEqual(r.fanRpm, [4120]);
    assert.deepEqual(r.pools, [
      { url: "stratum+tcp://public-pool.io:21496", user: "bc1qexample.bitaxe", status: "active" },
      { url: "stratum+tcp://solo.ckpool.org:3333", user: "bc1qexample.bitaxe", status: "standby" },
    ]);
    assert.equal(r.uptimeS, 86400);
    assert.equal(r.firmware, "axeos v2.14.0");
    assert.equal(r.model, "Bitaxe Gamma 601 (BM1370)");
  });

  test("v2.0 (no boardVersion, no fanrpm, bestDiff a string) is a known shape", () => {
    const r = readingFromInfo(parseInfo(V200), 0);
    assert.equal(r.state, "hashing");
    assert.deepEqual(r.fanRpm, []);
    assert.equal(r.model, "ESP-Miner BM1397");
  });

  test("a failed sensor (cJSON writes NaN as null) reads as unknown, not as a changed firmware", () => {
    const r = readingFromInfo(parseInfo({ ...V214, power: null, temp: null }), 0);
    assert.equal(r.powerW, null);
    assert.equal(r.chipTempMaxC, null);
  });

  test("the NerdQAxe fork: deviceModel names the model, isUsingFallbackStratum may be a boolean", () => {
    const info = parseInfo({
      ...V200,
      version: "v1.0.29",
      deviceModel: "NerdQAxe++",
      isUsingFallbackStratum: true,
    });
    const r = readingFromInfo(info, 0);
    assert.equal(r.model, "NerdQAxe++ (BM1397)");
    assert.equal(r.pools[0]?.status, "standby");
  });

  test("states: paused → sleeping, overheat → faulted, young without hashrate → starting", () => {
    assert.equal(
      readingFromInfo(parseInfo({ ...V214, miningPaused: true, hashRate: 0 }), 0).state,
      "sleeping",
    );
    const hot = readingFromInfo(parseInfo({ ...V214, overheat_mode: 1 }), 0);
    assert.equal(hot.state, "faulted");
    assert.match(hot.reason ?? "", /overheat/);
    const fault = readingFromInfo(parseInfo({ ...V214, power_fault: "VCORE over-current" }), 0);
    assert.equal(fault.state, "faulted");
    assert.match(fault.reason ?? "", /VCORE over-current/);
    assert.equal(
      readingFromInfo(parseInfo({ ...V214, hashRate: 0, uptimeSeconds: 12 }), 0).state,
      "starting",
    );
  });

  test("drift: a field gone, a type changed, miningPaused gone on v2.14+, not an object", () => {
    const { hashRate: _h, ...noHash } = V214;
    assert.throws(
      () => parseInfo(noHash),
      changed(/^axeos v2\.14\.0: \/api\/system\/info: hashRate is gone$/),
    );
    assert.throws(
      () => parseInfo({ ...V214, stratumPort: "21496" }),
      changed(/stratumPort is now string "21496" \(was number\)/),
    );
    const { miningPaused: _p, ...noPause } = V214;
    assert.throws(
      () => parseInfo({ ...noPause, version: "v2.15.0" }),
      changed(/v2\.15\.0: .*miningPaused is gone/),
    );
    assert.throws(() => parseInfo([V214]), changed(/answered array/));
    assert.throws(
      () => parseInfo({ ...V214, version: 2 }),
      changed(/^axeos \(version unknown\): .*version is now number/),
    );
    // the fork has its own version line: no miningPaused expected of it
    assert.doesNotThrow(() => parseInfo({ ...noPause, version: "v2.15.0", deviceModel: "NerdQAxe+" }));
  });

  test("the probe's look: AxeOS info yes; other firmwares' JSON no", () => {
    assert.equal(looksLikeAxeos(V214), true);
    assert.equal(looksLikeAxeos(V200), true);
    assert.equal(looksLikeAxeos({ miner: "Antminer S19", fw_name: "Vnish", fw_version: "1.2.6" }), false);
    assert.equal(looksLikeAxeos({ STATUS: [{ STATUS: "S" }] }), false);
    assert.equal(looksLikeAxeos(null), false);
  });
});

describe("AxeOS facts", () => {
  test("versions: release, betas and builds; comparisons", () => {
    const v = parseAxeosVersion("v2.14.0b2")!;
    assert.deepEqual([v.major, v.minor, v.patch], [2, 14, 0]);
    assert.ok(atLeast(v, { major: 2, minor: 14, patch: 0 }));
    assert.ok(!atLeast(parseAxeosVersion("v2.13.2-dirty")!, { major: 2, minor: 14 }));
    assert.ok(atLeast(parseAxeosVersion("2.15")!, { major: 2, minor: 14 }));
    assert.ok(atLeast(parseAxeosVersion("v3.0.0")!, { major: 2, minor: 14 }));
    assert.equal(parseAxeosVersion("custom-build"), null);
  });

  test("capabilities per version: pause/resume from v2.14.0, restart always", () => {
    const all = ["sleep", "wake", "reboot"] as const;
    const esp = { kind: "esp-miner" } as const;
    assert.deepEqual(withdrawnFor(esp, "v2.14.0", [...all]), []);
    assert.deepEqual(withdrawnFor(esp, "v2.14.0b1", [...all]), []);
    const old = withdrawnFor(esp, "v2.13.2", [...all]);
    assert.deepEqual(
      old.map((w) => w.capability),
      ["sleep", "wake"],
    );
    assert.match(old[0]!.reason, /no \/api\/system\/pause .*v2\.14\.0/);
    const unknown = withdrawnFor(esp, "custom-build", [...all]);
    assert.deepEqual(
      unknown.map((w) => w.capability),
      ["sleep", "wake"],
    );
    const fork = withdrawnFor({ kind: "nerdqaxe", deviceModel: "NerdQAxe++" }, "v1.0.29", [...all]);
    assert.deepEqual(
      fork.map((w) => w.capability),
      ["sleep", "wake"],
    );
    assert.match(fork[0]!.reason, /NerdQAxe.*not established/);
  });

  test("model names from board versions (ESP-Miner device_config.h)", () => {
    assert.equal(modelName("BM1368", "401"), "Bitaxe Supra 401 (BM1368)");
    assert.equal(modelName("BM1366", "205"), "Bitaxe Ultra 205 (BM1366)");
    assert.equal(modelName("BM1370", "650"), "Bitaxe GammaDuo 650 (BM1370)");
    assert.equal(modelName("BM1370", "999"), "ESP-Miner board 999 (BM1370)");
  });
});
