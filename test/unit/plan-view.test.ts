// The planner's view of the site (agent/site/plan-view.ts), built every tick for
// the whole fleet: a miner whose inputs did not change keeps its object, any
// change (reading, capabilities, exclusion) gives a fresh one; the site's power
// is the snapshot's, with or without a fresh site meter.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { capabilityList, planView } from "../../agent/site/plan-view.ts";
import { SiteState } from "../../agent/site/state.ts";
import { loadConfig } from "../../config/load.ts";
import type { MeterReading, MinerCapability } from "../../drivers/types.ts";
import { minerReading } from "../helpers/readings.ts";

const T = Date.parse("2026-12-05T12:00:00Z");

const reading = (powerW: number) => minerReading({ at: T, powerW });

const meter = (at: number, powerW: number): MeterReading => ({
  at,
  ok: true,
  reason: null,
  powerW,
  energyKwh: null,
  voltageV: [null, null, null],
  currentA: [null, null, null],
  frequencyHz: null,
  powerFactor: null,
});

async function site(): Promise<SiteState> {
  const dir = mkdtempSync(join(tmpdir(), "wk-plan-view-"));
  writeFileSync(
    join(dir, "site.yaml"),
    [
      "site: { id: pv, timezone: UTC, contractLimitW: 1MW }",
      "store: { path: ./s.db }",
      "meters:",
      '  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "10.0.0.5:502", unitId: 1 } }',
      "miners:",
      "  - { id: m1, host: 10.1.0.1 }",
      "  - { id: m2, host: 10.1.0.2 }",
      "  - { id: m3, host: 10.1.0.3 }",
    ].join("\n"),
  );
  return new SiteState((await loadConfig(join(dir, "site.yaml"))).config);
}

test("a miner keeps its plan object while its reading, capabilities and exclusion stay; any change rebuilds it", async () => {
  const state = await site();
  for (const id of ["m1", "m2", "m3"]) state.setMinerReading(id, reading(3000));
  let caps = new Set<MinerCapability>(["sleep", "wake"]);
  let excluded = false;
  const view = () =>
    planView(state, (id) => (id === "m3" ? caps : undefined), {
      now: T,
      isExcluded: (id) => id === "m2" && excluded,
    });
  const of = (v: ReturnType<typeof view>, id: string) => v.miners.find((m) => m.id === id)!;

  const a = view();
  const b = view();
  for (const id of ["m1", "m2", "m3"]) assert.equal(of(b, id), of(a, id), `${id}: nothing changed`);
  assert.deepEqual(of(a, "m3").capabilities, ["sleep", "wake"]);
  assert.deepEqual(of(a, "m1").capabilities, []);

  state.setMinerReading("m1", reading(2500));
  excluded = true;
  caps = new Set(["wake"]); // a driver replaces its set when a capability is withdrawn
  const c = view();
  assert.notEqual(of(c, "m1"), of(b, "m1"));
  assert.equal(of(c, "m1").powerW, 2500, "the new reading");
  assert.notEqual(of(c, "m2"), of(b, "m2"));
  assert.equal(of(c, "m2").excluded, true, "the exclusion");
  assert.notEqual(of(c, "m3"), of(b, "m3"));
  assert.deepEqual(of(c, "m3").capabilities, ["wake"], "the withdrawn capability");
  assert.equal(capabilityList(caps), capabilityList(caps), "one list per capability set");
});

test("from the site's drivers: each miner's driver is taken once per map, its capability set read every view", async () => {
  const state = await site();
  for (const id of ["m1", "m2", "m3"]) state.setMinerReading(id, reading(3000));
  const driver = (caps: MinerCapability[]) => ({ capabilities: new Set<MinerCapability>(caps) });
  const m1 = driver(["sleep", "wake"]);
  const drivers = new Map([
    ["m1", m1],
    ["m2", driver([])],
  ]);
  const of = (v: ReturnType<typeof planView>, id: string) => v.miners.find((m) => m.id === id)!;
  const a = planView(state, drivers, { now: T });
  assert.deepEqual(of(a, "m1").capabilities, ["sleep", "wake"]);
  assert.deepEqual(of(a, "m3").capabilities, [], "a miner without a driver can do nothing");
  assert.equal(planView(state, drivers, { now: T }).miners[0], of(a, "m1"), "nothing changed");
  m1.capabilities = new Set(["wake"]); // the driver withdrew sleep
  const b = planView(state, drivers, { now: T });
  assert.deepEqual(of(b, "m1").capabilities, ["wake"]);
  assert.equal(of(b, "m2"), of(a, "m2"));
  // the devices restarted: new drivers in a new map
  const c = planView(state, new Map([["m3", driver(["sleep"])]]), { now: T });
  assert.deepEqual(of(c, "m1").capabilities, [], "m1's old driver is not asked");
  assert.deepEqual(of(c, "m3").capabilities, ["sleep"]);
  assert.deepEqual(of(c, "m2").capabilities, []);
});

test("the plan's site power is the snapshot's: the meter while fresh, else the devices' estimate", async () => {
  const state = await site();
  for (const id of ["m1", "m2", "m3"]) state.setMinerReading(id, reading(3000));
  const agree = (now: number) => {
    const snap = state.snapshot(now);
    const view = planView(state, () => undefined, { now });
    assert.deepEqual(
      [view.powerW, view.powerSource, view.powerAt, view.aiPowerW],
      [snap.powerW, snap.powerSource, snap.powerAt, snap.classes.ai.powerW],
    );
    return view;
  };
  // no GPU nodes configured: their draw is 0, so the estimate needs only the miners
  assert.equal(agree(T).powerSource, "estimate", "no meter reading yet");
  state.setMeterReading("pcc", meter(T, 123_000));
  const fresh = agree(T + 1000);
  assert.deepEqual([fresh.powerW, fresh.powerSource, fresh.powerAt], [123_000, "meter", T]);
  const stale = agree(T + 3_600_000);
  assert.equal(stale.powerSource, "estimate", "a stale meter is never presented");
});
