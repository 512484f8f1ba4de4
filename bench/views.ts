// The fleet-wide views the site builds on its clock, at a gateway's scale: the
// snapshot (every beat), the planner's view (every tick) and the problems check
// (every 5 s), over readings in six shapes as the dialects build them. Prints the
// median and p95 of 200 runs each, ms.
// Run: npm run build && node dist/bench/views.js [--miners 20000]
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { devicesView, problemDevicesView } from "../agent/site/device-rows.ts";
import { planView } from "../agent/site/plan-view.ts";
import { listProblems } from "../agent/site/problems.ts";
import { SiteState } from "../agent/site/state.ts";
import { loadConfig } from "../config/load.ts";
import type { MinerCapability, MinerReading } from "../drivers/types.ts";
import { minerReading } from "../test/helpers/readings.ts";

const MINERS = Number(parseArgs({ options: { miners: { type: "string", default: "20000" } } }).values.miners);
const RUNS = 200;

const dir = mkdtempSync(join(tmpdir(), "wk-bench-views-"));
const lines = [
  "site: { id: views, timezone: UTC, contractLimitW: 100MW }",
  "store: { path: ./s.db }",
  "miners:",
];
for (let i = 0; i < MINERS; i++)
  lines.push(`  - { id: m-${i}, host: 10.${1 + (i >> 14)}.${(i >> 7) & 127}.${(i & 127) + 1} }`);
writeFileSync(join(dir, "site.yaml"), lines.join("\n"));
const state = new SiteState((await loadConfig(join(dir, "site.yaml"))).config);
rmSync(dir, { recursive: true, force: true });

const base = (): MinerReading =>
  minerReading({
    boardTempsC: [60, 61, 62],
    chipTempMaxC: 70,
    fanRpm: [5000, 5000, 5100, 5100],
    uptimeS: 1000,
    firmware: "bmminer 4.11.1",
    model: "Antminer S19",
  });
// what the dialects give: the same fields, but not the same set nor order
const shapes: Array<(r: MinerReading) => MinerReading> = [
  (r) => r,
  (r) => ({ ...r, boards: [] }),
  (r) => ({ ...r, minPowerLimitW: 1500, maxPowerLimitW: 3300 }),
  (r) => ({ ...r, detailAt: Date.now() }),
  (r) => ({ ...r, powerLimitStepsW: [1500, 2500, 3300], detailAt: null }),
  ({ model, firmware, ...rest }) => ({ model, firmware, ...rest }),
];
const read = (i: number) => state.setMinerReading(`m-${i}`, shapes[i % shapes.length]!(base()));
for (let i = 0; i < MINERS; i++) read(i);

const caps: ReadonlySet<MinerCapability> = new Set(["sleep", "wake", "setPowerLimit"]);
const driver = { dialect: "antminer", capabilities: [...caps], withdrawn: [] };
/** `before` runs untimed ahead of each run (the readings that arrive between ticks). */
function time(f: () => unknown, before: () => void = () => {}): string {
  for (let k = 0; k < 20; k++) f();
  const ms: number[] = [];
  for (let k = 0; k < RUNS; k++) {
    before();
    const t0 = performance.now();
    f();
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  return `${ms[RUNS / 2]!.toFixed(1)} / ${ms[Math.floor(RUNS * 0.95)]!.toFixed(1)}`;
}
const judge = (devices: Parameters<typeof listProblems>[0]["devices"]) =>
  listProblems({ site: { signals: [] }, devices, outageSince: () => null });
// a tick at the default periods (poll 5 s, tick 2 s): two miners in five have a new reading
let next = 0;
const rows: Array<[string, string]> = [
  ["snapshot", time(() => state.snapshot(Date.now(), () => false))],
  ["plan view, no new reading", time(() => planView(state, () => caps))],
  [
    "plan view, 40 % new readings",
    time(
      () => planView(state, () => caps),
      () => {
        for (let k = 0; k < MINERS * 0.4; k++) read(next++ % MINERS);
      },
    ),
  ],
  ["problems check (lean rows)", time(() => judge(problemDevicesView(state, { driverOf: () => driver })))],
  ["problems from GET /api/devices rows", time(() => judge(devicesView(state, { driverOf: () => driver })))],
];
console.log(`views over ${MINERS.toLocaleString("en-US")} miners, ms (median / p95 of ${RUNS})`);
for (const [what, ms] of rows) console.log(`${what.padEnd(38)} ${ms}`);
