// Power and duration parsing: the unit strings people write, and the typos that must not pass.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatDurationS, formatPowerW, parseDurationS, parsePowerW } from "../../config/units.ts";

describe("parsePowerW", () => {
  const good: [number | string, number][] = [
    [3500, 3500],
    ["3500", 3500],
    ["3.5kW", 3500],
    ["3.5 kW", 3500],
    ["24MW", 24e6],
    ["500 W", 500],
    ["1.2GW", 1.2e9],
    ["0.1MW", 100000],
    ["50kW", 50000],
    ["-10kW", -10000],
    [" 2 MW ", 2e6],
  ];
  for (const [input, want] of good) {
    it(`${JSON.stringify(input)} → ${want}`, () => assert.equal(parsePowerW(input), want));
  }
  const bad = ["3.5kw/h", "3.5 kWh", "abc", "", "MW", "3.5mW", "1,5kW", "5 watts"];
  for (const input of bad) {
    it(`rejects ${JSON.stringify(input)}`, () => {
      assert.throws(() => parsePowerW(input), {
        message: `expected a power like 3500, "3.5kW" or "24MW", got ${JSON.stringify(input)}`,
      });
    });
  }
  it("rejects NaN", () => assert.throws(() => parsePowerW(Number.NaN), /expected a power/));
});

describe("parseDurationS", () => {
  const good: [number | string, number][] = [
    [30, 30],
    ["30", 30],
    ["30s", 30],
    ["5m", 300],
    ["2h", 7200],
    ["500ms", 0.5],
    ["1h30m", 5400],
    ["1d", 86400],
    ["1.5 s", 1.5],
  ];
  for (const [input, want] of good) {
    it(`${JSON.stringify(input)} → ${want}`, () => assert.equal(parseDurationS(input), want));
  }
  for (const input of ["5min", "", "s", "10 parsecs", "1h-30m", "5x"]) {
    it(`rejects ${JSON.stringify(input)}`, () => {
      assert.throws(() => parseDurationS(input), /expected a duration like 30, "30s", "5m", "2h" or "500ms"/);
    });
  }
});

describe("formatting", () => {
  it("formats powers with the largest fitting unit", () => {
    assert.equal(formatPowerW(24e6), "24 MW");
    assert.equal(formatPowerW(3500), "3.5 kW");
    assert.equal(formatPowerW(350), "350 W");
    assert.equal(formatPowerW(1.2e9), "1.2 GW");
    assert.equal(formatPowerW(0), "0 W");
    assert.equal(formatPowerW(-50000), "-50 kW");
  });
  it("formats durations", () => {
    assert.equal(formatDurationS(0.5), "500 ms");
    assert.equal(formatDurationS(30), "30 s");
    assert.equal(formatDurationS(300), "5 min");
    assert.equal(formatDurationS(5400), "1 h 30 min");
  });
});
