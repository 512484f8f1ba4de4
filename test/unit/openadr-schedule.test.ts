// OpenADR 3 event intervals placed in time: sequential intervals from the
// event's start, an interval's own start and duration, "now" starts, P9999Y,
// randomizeStart fixed per VEN/event/interval, units and SIMPLE levels, and
// the lowest budget winning among intervals in force.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { durationMs } from "../../agent/signals/openadr/duration.ts";
import { activeInterval, type OadrEvent, placeIntervals } from "../../agent/signals/openadr/schedule.ts";

const T0 = Date.parse("2026-12-04T12:00:00Z");
const opts = (o: Partial<Parameters<typeof placeIntervals>[1]> = {}) => ({
  venName: "odessa",
  seenAt: () => T0,
  simpleLevels: new Map([
    [1, 15_000_000],
    [2, 8_000_000],
  ]),
  ...o,
});
const limit = (id: number, kw: number) => ({
  id,
  payloads: [{ type: "IMPORT_CAPACITY_LIMIT", values: [kw] }],
});

describe("ISO 8601 durations", () => {
  test("as OpenADR writes them", () => {
    assert.equal(durationMs("PT1H"), 3_600_000);
    assert.equal(durationMs("P1DT30M"), 86_400_000 + 1_800_000);
    assert.equal(durationMs("PT0.5S"), 500);
    assert.equal(durationMs("P9999Y"), Number.POSITIVE_INFINITY);
    assert.equal(durationMs("-PT5M"), -300_000);
    assert.equal(durationMs("1 hour"), null);
  });
});

describe("placing intervals", () => {
  test("intervals follow each other from the event's start; each asks its limit in kW", () => {
    const e: OadrEvent = {
      id: "e1",
      programID: "p",
      intervalPeriod: { start: "2026-12-04T12:00:00Z", duration: "PT15M" },
      intervals: [limit(0, 500), limit(1, 300)],
    };
    const iv = placeIntervals([e], opts());
    assert.deepEqual(
      iv.map((i) => [i.intervalId, i.startMs - T0, i.endMs - T0, i.budgetW]),
      [
        [0, 0, 900_000, 500_000],
        [1, 900_000, 1_800_000, 300_000],
      ],
    );
    assert.equal(activeInterval(iv, T0 + 899_999)?.intervalId, 0);
    assert.equal(activeInterval(iv, T0 + 900_000)?.intervalId, 1);
    assert.equal(activeInterval(iv, T0 + 1_800_000), null);
  });

  test("an interval's own period wins; a start of 0001-01-01 is when the VEN first saw it; no duration is forever", () => {
    const e: OadrEvent = {
      id: "e2",
      programID: "p",
      intervalPeriod: { start: "0001-01-01T00:00:00Z" },
      intervals: [
        { ...limit(0, 200), intervalPeriod: { start: "2026-12-04T13:00:00Z", duration: "PT30M" } },
        limit(1, 100),
      ],
    };
    const iv = placeIntervals([e], opts({ seenAt: () => T0 + 5000 }));
    assert.deepEqual([iv[0]!.startMs, iv[0]!.endMs], [T0 + 3_600_000, T0 + 5_400_000]);
    // the next follows the one before; without a duration anywhere it lasts
    assert.equal(iv[1]!.startMs, T0 + 5_400_000);
    assert.equal(iv[1]!.endMs, Number.POSITIVE_INFINITY);
  });

  test("randomizeStart: a fixed offset within the range, per VEN", () => {
    const e: OadrEvent = {
      id: "e3",
      programID: "p",
      intervalPeriod: { start: "2026-12-04T12:00:00Z", duration: "PT10M", randomizeStart: "PT5M" },
      intervals: [limit(0, 100)],
    };
    const a = placeIntervals([e], opts())[0]!;
    const again = placeIntervals([e], opts())[0]!;
    const other = placeIntervals([e], opts({ venName: "another" }))[0]!;
    assert.equal(a.startMs, again.startMs, "the same on every poll and restart");
    assert.ok(a.startMs >= T0 && a.startMs < T0 + 300_000);
    assert.equal(a.endMs - a.startMs, 600_000);
    assert.notEqual(a.startMs, other.startMs);
  });

  test("units (W, KW, MW) and SIMPLE levels through the table; the lowest budget in force wins", () => {
    const start = "2026-12-04T12:00:00Z";
    const events: OadrEvent[] = [
      {
        id: "mw",
        programID: "p",
        intervalPeriod: { start, duration: "PT1H" },
        payloadDescriptors: [{ payloadType: "IMPORT_CAPACITY_LIMIT", units: "MW" }],
        intervals: [limit(0, 12)],
      },
      {
        id: "simple",
        programID: "p",
        intervalPeriod: { start, duration: "PT1H" },
        intervals: [{ id: 0, payloads: [{ type: "SIMPLE", values: [2] }] }],
      },
      {
        id: "zero",
        programID: "p",
        intervalPeriod: { start, duration: "PT1H" },
        intervals: [{ id: 0, payloads: [{ type: "SIMPLE", values: [0] }] }],
      },
    ];
    const iv = placeIntervals(events, opts());
    assert.deepEqual(
      iv.map((i) => [i.eventId, i.budgetW]),
      [
        ["mw", 12_000_000],
        ["simple", 8_000_000],
        ["zero", null],
      ],
    );
    assert.equal(activeInterval(iv, T0 + 1000)?.eventId, "simple");
  });
});
