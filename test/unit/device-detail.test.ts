// The pieces of the miner detail page: the actions offered from capabilities
// (generic over DEVICE_ACTIONS, so a new device action appears once a dialect
// declares its capability), the firmware's name and version, the sparkline's
// ring of samples, and exclusions that end by themselves and survive a reopen.
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { DEVICE_ACTIONS } from "../../agent/control/intents.ts";
import { capabilityFor, firmwareParts, offeredActions } from "../../agent/devices/detail.ts";
import { DeviceHistory } from "../../agent/devices/history.ts";
import { Settings } from "../../agent/store/settings.ts";

describe("actions offered", () => {
  test("each device action its capabilities allow, in DEVICE_ACTIONS order, then exclude or include", () => {
    const range = { min: 2000, max: 3400, current: null };
    assert.deepEqual(
      offeredActions(["sleep", "wake", "setPowerLimit", "reboot"], false, range).map((a) => [
        a.action,
        a.label,
      ]),
      [
        ["sleep", "Sleep"],
        ["wake", "Wake"],
        ["reboot", "Reboot"],
        ["set-power-limit", "Set power limit"],
        ["exclude", "Exclude"],
      ],
    );
    assert.deepEqual(offeredActions(["setPowerLimit"], false, range)[0]!.value, {
      unit: "W",
      min: 2000,
      max: 3400,
      current: null,
    });
    assert.deepEqual(
      offeredActions([], true, range).map((a) => a.action),
      ["include"],
    );
  });

  test("an action's capability is its name in camel case, so every DEVICE_ACTIONS entry maps without a table", () => {
    assert.equal(capabilityFor("set-power-limit"), "setPowerLimit");
    assert.equal(capabilityFor("locate"), "locate");
    for (const a of DEVICE_ACTIONS) assert.match(capabilityFor(a), /^[a-z][A-Za-z]*$/);
  });

  test("firmware name and version", () => {
    assert.deepEqual(firmwareParts("luxminer 2024.6.25.134021-5d6e7a3d"), {
      name: "luxminer",
      version: "2024.6.25.134021-5d6e7a3d",
      raw: "luxminer 2024.6.25.134021-5d6e7a3d",
    });
    assert.deepEqual(firmwareParts("btminer 2.0.7"), {
      name: "btminer",
      version: "2.0.7",
      raw: "btminer 2.0.7",
    });
    assert.deepEqual(firmwareParts("esp-miner v2.14.0"), {
      name: "esp-miner",
      version: "2.14.0",
      raw: "esp-miner v2.14.0",
    });
    assert.deepEqual(firmwareParts("uart_trans.1.3"), {
      name: "uart_trans.1.3",
      version: null,
      raw: "uart_trans.1.3",
    });
    assert.equal(firmwareParts(null), null);
  });
});

describe("sparkline ring", () => {
  test("one sample per period, oldest first, the last N kept; a device absent from a sample has a gap", () => {
    const h = new DeviceHistory(1000, 3);
    assert.equal(h.due(0), true);
    h.record(0, [{ id: "a", powerW: 3000.4, hashrateThs: 104.123456 }]);
    assert.equal(h.due(500), false);
    h.record(1000, [
      { id: "a", powerW: 2900, hashrateThs: 100 },
      { id: "b", powerW: 10, hashrateThs: null },
    ]);
    h.record(2000, [{ id: "b", powerW: 11, hashrateThs: null }]);
    h.record(3000, [{ id: "a", powerW: 2800, hashrateThs: 99 }]);
    assert.deepEqual(h.of("a"), [
      { at: 1000, powerW: 2900, hashrateThs: 100 },
      { at: 2000, powerW: null, hashrateThs: null },
      { at: 3000, powerW: 2800, hashrateThs: 99 },
    ]);
    assert.deepEqual(
      h.of("b").map((p) => p.powerW),
      [10, 11, null],
    );
    assert.deepEqual(h.of("c"), []);
    h.keepOnly(new Set(["a"]));
    assert.deepEqual(h.of("b"), []);
  });

  test("one buffer for the fleet: it grows with the devices, and a dropped device's row starts empty for the next", () => {
    const h = new DeviceHistory(1000, 4);
    const fleet = (n: number, powerW: number) =>
      Array.from({ length: n }, (_, i) => ({ id: `m${i}`, powerW: powerW + i, hashrateThs: i }));
    h.record(0, fleet(10, 1000));
    // 500 devices: the buffer grows several times, every earlier value stays
    h.record(1000, fleet(500, 2000));
    assert.deepEqual(
      h.of("m7").map((p) => p.powerW),
      [1007, 2007],
    );
    assert.deepEqual(
      h.of("m499").map((p) => p.powerW),
      [null, 2499],
    );
    h.keepOnly(new Set(["m0", "m1"]));
    assert.deepEqual(h.of("m7"), []);
    // a new device takes a freed row: none of the old device's values show
    h.record(2000, [{ id: "new", powerW: 5, hashrateThs: 1 }]);
    assert.deepEqual(
      h.of("new").map((p) => p.powerW),
      [null, null, 5],
    );
    assert.deepEqual(
      h.of("m1").map((p) => p.powerW),
      [1001, 2001, null],
    );
  });
});

describe("timed exclusions", () => {
  test("an exclusion with an end holds until then, is swept once, and survives a reopen", () => {
    const path = join(mkdtempSync(join(tmpdir(), "wk-excl-")), "state.db");
    const s = new Settings(path);
    s.open();
    s.exclude("m1", { by: "bea", reason: "fan swap", at: 1000, until: 5000 });
    s.exclude("m2", { by: "bea", reason: null, at: 1000 });
    assert.equal(s.isExcluded("m1", 4999), true);
    assert.equal(s.isExcluded("m1", 5000), false, "past its end it no longer holds, swept or not");
    s.close();
    const again = new Settings(path);
    again.open();
    assert.deepEqual(again.exclusion("m1"), {
      deviceId: "m1",
      by: "bea",
      at: 1000,
      reason: "fan swap",
      until: 5000,
    });
    assert.deepEqual(again.expire(4000), []);
    assert.deepEqual(
      again.expire(5000).map((e) => e.deviceId),
      ["m1"],
    );
    assert.deepEqual(again.expire(6000), [], "each ends once");
    assert.equal(again.isExcluded("m2", 1e15), true, "no end: until included");
    again.close();
  });
});
