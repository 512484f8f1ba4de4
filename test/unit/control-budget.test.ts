// The effective budget (contract, lease, schedule windows in the site's time
// zone, failsafe) and the economic cut.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  type BudgetConfig,
  breakEvenPricePerKwh,
  economicCut,
  effectiveBudget,
  localTime,
  windowActive,
} from "../../agent/control/budget.ts";
import type { ScheduleWindow } from "../../config/schema.ts";

type Day = ScheduleWindow["days"][number];
const ALL_DAYS: Day[] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const ALL_MONTHS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

function win(
  name: string,
  from: string,
  to: string,
  budgetW: number,
  opts: { months?: number[]; days?: Day[] } = {},
): ScheduleWindow {
  const min = (t: string) => Number(t.slice(0, 2)) * 60 + Number(t.slice(3));
  return {
    name,
    from,
    to,
    budgetW,
    months: opts.months ?? ALL_MONTHS,
    days: opts.days ?? ALL_DAYS,
    fromMinute: min(from),
    toMinute: min(to),
  };
}

function cfg(schedule: ScheduleWindow[] = [], timezone = "UTC"): BudgetConfig {
  return {
    site: { timezone, contractLimitW: 24_000_000 },
    control: { schedule, failsafeBudgetW: 10_000_000 },
  };
}

const at = (iso: string) => Date.parse(iso);

describe("effectiveBudget: sources", () => {
  const now = at("2024-01-10T12:00:00Z");
  const cases: {
    name: string;
    inputs: Parameters<typeof effectiveBudget>[0];
    budgetW: number;
    source: string;
    reason?: RegExp;
  }[] = [
    {
      name: "contract only",
      inputs: {},
      budgetW: 24_000_000,
      source: "contract",
      reason: /^no lower limit in force$/,
    },
    {
      name: "a live lease below the contract wins",
      inputs: { lease: { watts: 8_000_000, expiresAt: now + 1, reason: "ERCOT ERS" } },
      budgetW: 8_000_000,
      source: "lease",
      // the source is shown beside the reason: never "lease: lease: …"
      reason: /^ERCOT ERS$/,
    },
    {
      name: "an expired lease is ignored",
      inputs: { lease: { watts: 8_000_000, expiresAt: now, reason: "old" } },
      budgetW: 24_000_000,
      source: "contract",
    },
    {
      name: "a lease above the contract does not raise the budget",
      inputs: { lease: { watts: 30_000_000, expiresAt: now + 60_000, reason: "more" } },
      budgetW: 24_000_000,
      source: "contract",
    },
    {
      name: "meter stale without an estimate: failsafe",
      inputs: { meterStale: true, hasEstimate: false },
      budgetW: 10_000_000,
      source: "failsafe",
      reason: /^site meter stale and no device estimate$/,
    },
    {
      name: "no site meter configured and no estimate: failsafe, saying there is no meter",
      inputs: { meterStale: true, hasEstimate: false, siteMeter: false },
      budgetW: 10_000_000,
      source: "failsafe",
      reason: /^no site meter and no device estimate$/,
    },
    {
      name: "meter stale with an estimate: no failsafe",
      inputs: { meterStale: true, hasEstimate: true },
      budgetW: 24_000_000,
      source: "contract",
    },
    {
      name: "a lower lease beats the failsafe",
      inputs: { meterStale: true, lease: { watts: 1_000_000, expiresAt: now + 1, reason: "dr" } },
      budgetW: 1_000_000,
      source: "lease",
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const b = effectiveBudget(c.inputs, cfg(), now);
      assert.equal(b.budgetW, c.budgetW);
      assert.equal(b.source, c.source);
      if (c.reason) assert.match(b.reason, c.reason);
      assert.equal(b.budgetW, Math.min(...b.sources.map((s) => s.watts)));
    });
  }

  test("the minimum of lease and schedule wins and names itself", () => {
    const config = cfg([win("peak", "11:00", "13:00", 5_000_000)]);
    const lease = { watts: 6_000_000, expiresAt: now + 1000, reason: "ops" };
    const b = effectiveBudget({ lease }, config, now);
    assert.equal(b.budgetW, 5_000_000);
    assert.equal(b.reason, "peak");
    assert.deepEqual(
      b.sources.map((s) => s.kind),
      ["contract", "lease", "schedule"],
    );
    const b2 = effectiveBudget({ lease: { ...lease, watts: 4_000_000 } }, config, now);
    assert.equal(b2.source, "lease");
  });

  test("the lease expires mid-run: the next tick falls back", () => {
    const lease = { watts: 3_000_000, expiresAt: now + 10_000, reason: "test" };
    assert.equal(effectiveBudget({ lease }, cfg(), now + 9_999).budgetW, 3_000_000);
    assert.equal(effectiveBudget({ lease }, cfg(), now + 10_000).budgetW, 24_000_000);
  });

  test("pure: same inputs, same output", () => {
    const config = cfg([win("w", "11:00", "13:00", 5_000_000)], "America/Chicago");
    assert.deepEqual(effectiveBudget({}, config, now), effectiveBudget({}, config, now));
  });
});

describe("effectiveBudget: schedule windows in the site's time zone", () => {
  const peak = win("4CP peak", "15:00", "18:00", 5_000_000, {
    months: [6, 7, 8, 9],
    days: ["mon", "tue", "wed", "thu", "fri"],
  });
  const chicago = cfg([peak], "America/Chicago");
  const cases: [string, string, number][] = [
    // 2024-07-15 is a Monday; Chicago is UTC−5 in July
    ["Mon 16:00 CDT", "2024-07-15T21:00:00Z", 5_000_000],
    ["Mon 15:00 CDT (from is inclusive)", "2024-07-15T20:00:00Z", 5_000_000],
    ["Mon 18:00 CDT (to is exclusive)", "2024-07-15T23:00:00Z", 24_000_000],
    ["Mon 14:59 CDT", "2024-07-15T19:59:00Z", 24_000_000],
    ["16:00 UTC is 11:00 in Chicago", "2024-07-15T16:00:00Z", 24_000_000],
    ["Sat 16:00 CDT", "2024-07-20T21:00:00Z", 24_000_000],
    ["Fri 17:00 CDT is Sat in UTC", "2024-07-19T22:00:00Z", 5_000_000],
    ["January (out of months)", "2024-01-15T21:00:00Z", 24_000_000],
    // 2024-06-03 Monday; 2024-05-31 Friday
    ["Jun 3 16:00 CDT", "2024-06-03T21:00:00Z", 5_000_000],
    ["May 31 16:00 CDT", "2024-05-31T21:00:00Z", 24_000_000],
  ];
  for (const [name, iso, watts] of cases) {
    test(name, () => assert.equal(effectiveBudget({}, chicago, at(iso)).budgetW, watts));
  }

  test("winter time: UTC−6 in Chicago", () => {
    const w = cfg([win("w", "15:00", "18:00", 1)], "America/Chicago");
    assert.equal(effectiveBudget({}, w, at("2024-01-15T21:00:00Z")).budgetW, 1);
    assert.equal(effectiveBudget({}, w, at("2024-01-15T20:59:00Z")).budgetW, 24_000_000);
  });

  test("DST spring-forward day: local wall time, not a fixed offset", () => {
    // Berlin 2024-03-31: 02:00 CET → 03:00 CEST
    assert.equal(localTime(at("2024-03-31T00:30:00Z"), "Europe/Berlin").minute, 90);
    assert.equal(localTime(at("2024-03-31T01:30:00Z"), "Europe/Berlin").minute, 210);
    assert.deepEqual(localTime(at("2024-03-31T23:30:00Z"), "Europe/Berlin"), {
      month: 4,
      day: 1,
      weekday: "mon",
      minute: 90,
    });
  });

  test("localTime: midnight is minute 0 (h23)", () => {
    assert.equal(localTime(at("2024-07-15T00:00:00Z"), "UTC").minute, 0);
    assert.equal(localTime(at("2024-07-15T23:59:00Z"), "UTC").minute, 1439);
  });
});

describe("schedule windows that cross midnight", () => {
  const night = win("night", "22:00", "06:00", 2_000_000, { days: ["fri"] });
  const config = cfg([night]);
  // 2024-07-19 is a Friday
  const cases: [string, string, boolean][] = [
    ["Fri 21:59", "2024-07-19T21:59:00Z", false],
    ["Fri 22:00", "2024-07-19T22:00:00Z", true],
    ["Fri 23:59", "2024-07-19T23:59:00Z", true],
    ["Sat 00:00 (started Fri)", "2024-07-20T00:00:00Z", true],
    ["Sat 05:59 (started Fri)", "2024-07-20T05:59:00Z", true],
    ["Sat 06:00 (to is exclusive)", "2024-07-20T06:00:00Z", false],
    ["Sat 22:30 (Sat not a day)", "2024-07-20T22:30:00Z", false],
    ["Fri 01:00 (would have started Thu)", "2024-07-19T01:00:00Z", false],
    ["Wed 12:00", "2024-07-17T12:00:00Z", false],
  ];
  for (const [name, iso, active] of cases) {
    test(name, () => {
      assert.equal(effectiveBudget({}, config, at(iso)).budgetW, active ? 2_000_000 : 24_000_000);
    });
  }

  test("months follow the start day across a month and a year boundary", () => {
    const jan = win("jan nights", "22:00", "02:00", 1, { months: [1] });
    // Feb 1 01:00: started Jan 31 → active; Jan 1 01:00: started Dec 31 → not
    assert.equal(windowActive(jan, localTime(at("2024-02-01T01:00:00Z"), "UTC")), true);
    assert.equal(windowActive(jan, localTime(at("2024-01-01T01:00:00Z"), "UTC")), false);
    const dec = win("dec nights", "22:00", "02:00", 1, { months: [12] });
    assert.equal(windowActive(dec, localTime(at("2024-01-01T01:00:00Z"), "UTC")), true);
    assert.equal(windowActive(dec, localTime(at("2024-01-01T23:00:00Z"), "UTC")), false);
  });

  test("a crossing window is read in local time (London, Tokyo)", () => {
    const w = cfg([win("sun night", "23:00", "02:00", 7, { days: ["sun"] })], "Europe/London");
    // 2024-01-07 is a Sunday; London is UTC+0 in January
    assert.equal(effectiveBudget({}, w, at("2024-01-07T23:30:00Z")).budgetW, 7);
    assert.equal(effectiveBudget({}, w, at("2024-01-08T01:30:00Z")).budgetW, 7);
    assert.equal(effectiveBudget({}, w, at("2024-01-08T02:30:00Z")).budgetW, 24_000_000);
    const tokyo = cfg([win("sun night", "23:00", "02:00", 7, { days: ["sun"] })], "Asia/Tokyo");
    // Mon 2024-01-08 00:30 JST = Sun 15:30 UTC
    assert.equal(effectiveBudget({}, tokyo, at("2024-01-07T15:30:00Z")).budgetW, 7);
    // Sun 23:30 JST = Sun 14:30 UTC; Sun 22:30 JST = Sun 13:30 UTC
    assert.equal(effectiveBudget({}, tokyo, at("2024-01-07T14:30:00Z")).budgetW, 7);
    assert.equal(effectiveBudget({}, tokyo, at("2024-01-07T13:30:00Z")).budgetW, 24_000_000);
    // Mon 02:30 JST = Sun 17:30 UTC
    assert.equal(effectiveBudget({}, tokyo, at("2024-01-07T17:30:00Z")).budgetW, 24_000_000);
  });

  test("two overlapping windows: the lower wins", () => {
    const c = cfg([win("a", "10:00", "14:00", 9_000_000), win("b", "12:00", "13:00", 4_000_000)]);
    assert.equal(effectiveBudget({}, c, at("2024-07-15T11:00:00Z")).reason, "a");
    assert.equal(effectiveBudget({}, c, at("2024-07-15T12:30:00Z")).reason, "b");
  });
});

describe("effectiveBudget: a window announced ahead (rampDownWPerMin)", () => {
  // 24 MW contract, a 15:00 window at 5 MW, a 1 MW/min ramp down: the slope starts at 14:41
  const c = (rampDownWPerMin: number | null): BudgetConfig => ({
    ...cfg([win("4CP peak", "15:00", "18:00", 5_000_000)]),
    control: {
      schedule: [win("4CP peak", "15:00", "18:00", 5_000_000)],
      failsafeBudgetW: 1,
      rampDownWPerMin,
    },
  });

  test("the budget falls as a slope that reaches the window's budget as it starts", () => {
    const b = effectiveBudget({}, c(1_000_000), at("2026-07-15T14:50:00Z"));
    assert.equal(b.source, "schedule");
    assert.equal(b.budgetW, 15_000_000);
    assert.match(b.reason, /4CP peak from 15:00: ramping down ahead/);
    assert.equal(effectiveBudget({}, c(1_000_000), at("2026-07-15T14:59:30Z")).budgetW, 5_500_000);
    assert.equal(effectiveBudget({}, c(1_000_000), at("2026-07-15T15:00:00Z")).budgetW, 5_000_000);
  });

  test("out of the ramp's reach, or without rampDownWPerMin, nothing changes before the window", () => {
    assert.equal(effectiveBudget({}, c(1_000_000), at("2026-07-15T14:30:00Z")).source, "contract");
    assert.equal(effectiveBudget({}, c(null), at("2026-07-15T14:50:00Z")).source, "contract");
    // a window not on today's calendar (a weekday window on a Saturday) is not ramped to
    const weekdays = win("peak", "15:00", "18:00", 5_000_000, { days: ["mon", "tue", "wed", "thu", "fri"] });
    const sat = effectiveBudget(
      {},
      {
        ...cfg([weekdays]),
        control: { schedule: [weekdays], failsafeBudgetW: 1, rampDownWPerMin: 1_000_000 },
      },
      at("2026-07-18T14:50:00Z"),
    );
    assert.equal(sat.source, "contract");
  });
});

describe("economicCut", () => {
  // S19-ish: 100 TH/s at 3250 W (32.5 J/TH); S21-ish: 200 TH/s at 3500 W (17.5 J/TH)
  const miners = [
    { id: "s19", powerW: 3250, hashrateThs: 100 },
    { id: "s21", powerW: 3500, hashrateThs: 200 },
    { id: "dark", powerW: 3000, hashrateThs: 0 },
    { id: "unknown", powerW: null, hashrateThs: 100 },
  ];
  const cases: [string, number | null, number | null, string[]][] = [
    ["cheap power: only the miner with no hashrate is cut", 0.05, 0.05, ["dark"]],
    ["dearer power stops the inefficient miner, not the efficient one", 0.08, 0.05, ["dark", "s19"]],
    ["very dear power stops both", 0.15, 0.05, ["dark", "s19", "s21"]],
    ["negative price: nothing is cut", -0.02, 0.05, []],
    ["no energy price: nothing is judged", null, 0.05, []],
    ["no hashprice: nothing is judged", 0.08, null, []],
  ];
  for (const [name, energy, hashprice, ids] of cases) {
    test(name, () => {
      const cut = economicCut(miners, { energyPricePerKwh: energy, hashpricePerThDay: hashprice });
      assert.deepEqual(
        cut.map((c) => c.id),
        ids,
      );
      for (const c of cut) assert.ok(c.revenuePerH < c.costPerH);
    });
  }

  test("the break-even price matches the cut", () => {
    const p = breakEvenPricePerKwh(32.5, 0.05);
    const at = (price: number) =>
      economicCut([miners[0]!], { energyPricePerKwh: price, hashpricePerThDay: 0.05 }).length;
    assert.equal(at(p * 0.999), 0);
    assert.equal(at(p * 1.001), 1);
  });
});
