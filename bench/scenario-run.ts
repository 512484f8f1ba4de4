// One strategy's run of `npm run scenario` (bench/scenario.ts runs one per
// strategy and sets them side by side): a compressed day on the simulator,
// replayed against the real agent (drivers, poller, ledger, loop) in one
// process. Steps: budget step down, step up, AI surge under a tight lease,
// price spike, meter dropout, a 4CP window from the config's schedule
// (schedule windows have minute resolution, so that step is one whole clock
// minute, and the step before it is stretched to end on the minute), an
// ERS-10 deployment (a QSE setpoint written over Modbus, under the ers-10
// program's deadline), an AI swing (a training job stepping 30 % of AI power
// up and down every 20 s under a tight lease); then, on a second site with
// solar behind the meter and zero import (contractLimitW: 0), surplus
// following under passing clouds. Ground truth comes from the simulator's
// power model, sampled every 250 ms. Writes its figures as JSON to
// SCENARIO_OUT, and M&V records (JSON and CSV) for each curtailment event.
// The phase machinery (site, samplers, steps, figures) is scenario-phase.ts;
// the M&V and ERS-10 records, scenario-report.ts.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import modbusSerial from "modbus-serial";
import { testPort } from "../test/helpers/ports.ts";
import { resultsDir } from "./results-dir.ts";
import type { StepFigures } from "./scenario-figures.ts";
import { figures, runSteps, type Step, startPhase } from "./scenario-phase.ts";
import { ersFigures, mnvRecords, type ProgramEvent, writeMnv } from "./scenario-report.ts";

const STRATEGY = process.env.SCENARIO_STRATEGY === "track" ? "track" : "sleep";
const OUT = process.env.SCENARIO_OUT ?? join(resultsDir(import.meta.url), `scenario-${STRATEGY}.json`);
const STEP_MS = Number(process.env.SCENARIO_STEP_MS ?? 15_000);
const SWING_MS = Number(process.env.SCENARIO_SWING_MS ?? 180_000);
const SURPLUS_MS = Number(process.env.SCENARIO_SURPLUS_MS ?? 120_000);
/** Comma-separated step keys to run (development); default all. */
const ONLY = process.env.SCENARIO_ONLY ? new Set(process.env.SCENARIO_ONLY.split(",")) : null;
const CONTRACT_W = 170_000;
const SHED_MARGIN_W = 2_000;
const MIN_ON_S = 3;
const MIN_OFF_S = 3;
const RAMP_W_PER_MIN = 40_000;
const WARMUP_MS = 6000;
const FOURCP_W = 130_000;
const ERS_W = 100_000;
const SWING_LEASE_W = 140_000;
/** A zero-import site keeps a margin sized to its generation's swings (3 % of the array). */
const SURPLUS_SHED_MARGIN_W = 5_000;
/** The largest simulated miner (S21): "one miner" in the ramp figure. */
const ONE_MINER_W = 3_500;
const GPU_NODES = ["gpu-a", "gpu-b", "gpu-c", "gpu-d"];

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
const hhmm = (t: number) => new Date(t).toISOString().slice(11, 16);
const want = (key: string) => ONLY === null || ONLY.has(key);
const FIGURES = { shedMarginW: SHED_MARGIN_W, curtailedByW: ONE_MINER_W, minOnS: MIN_ON_S };

const CONTROL = `
  strategy: ${STRATEGY}
  track: { toleranceW: 600, dwellS: 2, deadbandW: 100 }
  aiStepW: 1kW
  shedMarginW: ${SHED_MARGIN_W}
  restoreMarginW: 6kW
  emergencyMarginW: 10kW
  minOnS: ${MIN_ON_S}
  minOffS: ${MIN_OFF_S}
  rampUpWPerMin: ${RAMP_W_PER_MIN}
  restoreStaggerS: 5
  meterStaleS: 3
  unmeteredW: 6kW`;

// ---------------------------------------------------------------- phase 1: the day

const ports = {
  http: await testPort(),
  meter: await testPort(),
  qse: await testPort(),
  http2: await testPort(),
  meter2: await testPort(),
};
// The 4CP window: the first whole UTC minute after the steps before it (and start-up slack).
const STEPS_BEFORE_4CP = ["baseline", "step-down", "step-up", "ai-surge", "price", "meter-dropout"].filter(
  want,
).length;
const windowStart = Math.ceil((Date.now() + WARMUP_MS + STEPS_BEFORE_4CP * STEP_MS + 8000) / 60_000) * 60_000;
const dayYaml = `site: { id: scenario, timezone: UTC, contractLimitW: ${CONTRACT_W} }
http: { listen: "127.0.0.1:${ports.http}" }
store: { path: ./ledger.db }
polling: { gpuNodesS: 1 }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${ports.meter}", unitId: 1 } }
miners:
  - { hosts: 127.53.0.1-127.53.0.45, dialect: luxos }
control:${CONTROL}
  failsafeBudgetW: 80kW
  economics: { hashpricePerThDay: 0.05, energyPricePerKwh: 0.03 }
  schedule:${want("4cp") ? `\n    - { name: "4CP peak window", from: "${hhmm(windowStart)}", to: "${hhmm(windowStart + 60_000)}", budgetW: ${FOURCP_W} }` : " []"}
  programs: [{ kind: ers-10 }]
signals:
  modbusServer: { name: qse, listen: "127.0.0.1:${ports.qse}", allow: [127.0.0.1], staleS: 30 }
sim: { seed: 42, noiseW: 100, auxW: 6kW }
`;
const day = await startPhase(dayYaml, GPU_NODES);
const { site, sim, gpus } = day;
const deadlineEvents: ProgramEvent[] = [];
site.onEvent((e) => {
  if (e.kind.startsWith("program-deadline")) deadlineEvents.push(e);
});
// the QSE's RTU, connected before its step as an RTU stays connected
const qse = new modbusSerial.default();
qse.setTimeout(5000);
await qse.connectTCP("127.0.0.1", { port: ports.qse });
qse.setID(1);
let ersAt = 0;
let beat = 1;
let heartbeat: NodeJS.Timeout | null = null;
let swingTimer: NodeJS.Timeout | null = null;
// the training job: on each node the same GPUs start and stop together (about 30 % of AI)
const swingGpus = () => gpus.flatMap((g) => g.smi.gpus.filter((x) => x.index % 8 < 3));
await wait(WARMUP_MS);

const daySteps: Step[] = [
  { key: "baseline", name: "baseline", target: () => null, enter: () => {} },
  {
    key: "step-down",
    name: "budget step down (lease 120 kW)",
    target: () => 120_000,
    enter: () => site.setBudgetLease({ watts: 120_000, ttlS: 600, reason: "DR event" }),
  },
  {
    key: "step-up",
    name: "budget step up (lease ends)",
    target: () => null,
    enter: () => site.clearBudgetLease(),
  },
  {
    key: "ai-surge",
    name: "AI surge under a 140 kW lease",
    target: () => 140_000,
    enter: () => {
      site.setBudgetLease({ watts: 140_000, ttlS: 600, reason: "tight" });
      for (const g of gpus) for (const x of g.smi.gpus) x.busy = true;
    },
    leave: () => site.clearBudgetLease(),
  },
  {
    key: "price",
    name: "price spike (0.08/kWh)",
    target: () => null,
    enter: () => site.setPrices({ energyPricePerKwh: 0.08 }),
    leave: () => site.setPrices({ energyPricePerKwh: 0.03 }),
  },
  {
    key: "meter-dropout",
    name: "meter dropout",
    target: () => null,
    enter: () => sim.meters.get("pcc")?.setFault("timeout"),
    leave: () => sim.meters.get("pcc")?.setFault(null),
  },
  { key: "4cp", name: "recovery", target: () => null, enter: () => {}, until: () => windowStart },
  {
    key: "4cp",
    name: `4CP window (schedule, ${FOURCP_W / 1000} kW)`,
    target: () => FOURCP_W,
    enter: () => {},
    until: () => windowStart + 60_000,
  },
  { key: "4cp", name: "4CP window ends", target: () => null, enter: () => {} },
  {
    key: "ers",
    name: `ERS-10 (QSE setpoint ${ERS_W / 1000} kW over Modbus)`,
    target: () => ERS_W,
    enter: () => {
      ersAt = Date.now();
      void qse.writeRegisters(0, [0, ERS_W / 1000, 1, 1]);
      heartbeat = setInterval(() => void qse.writeRegister(3, ++beat).catch(() => undefined), 2000);
    },
    leave: () => {
      if (heartbeat) clearInterval(heartbeat);
      void qse.writeRegister(2, 0);
    },
  },
  { key: "ers", name: "ERS released", target: () => null, enter: () => {} },
  // the lease's first shed is not the swing's figure: the site settles under it first
  {
    key: "ai-swing",
    name: `settle under the ${SWING_LEASE_W / 1000} kW lease`,
    target: () => SWING_LEASE_W,
    // the site climbs back from the ERS at the ramp first: the swing starts settled
    ms: 45_000,
    enter: () => {
      site.setBudgetLease({ watts: SWING_LEASE_W, ttlS: 900, reason: "AI swing under a tight lease" });
      for (const g of gpus) for (const x of g.smi.gpus) x.busy = true;
    },
  },
  {
    key: "ai-swing",
    name: `AI swing (±30 % every 20 s, ${SWING_MS / 1000} s, ${SWING_LEASE_W / 1000} kW lease)`,
    target: () => SWING_LEASE_W,
    ms: SWING_MS,
    enter: () => {
      let on = true;
      swingTimer = setInterval(() => {
        on = !on;
        for (const x of swingGpus()) x.busy = on;
      }, 20_000);
    },
    leave: () => {
      if (swingTimer) clearInterval(swingTimer);
      site.clearBudgetLease();
    },
  },
];
const dayWindows = await runSteps(day, daySteps, { stepMs: STEP_MS, want });
await new Promise<void>((r) => qse.close(() => r()));
await day.stop();
const dayRows = figures(day, dayWindows, FIGURES);

// ---------------------------------------------------------------- phase 2: surplus

let surplusRows: StepFigures[] = [];
if (want("surplus")) {
  const surplusYaml = `site: { id: scenario-surplus, timezone: UTC, contractLimitW: 0 }
http: { listen: "127.0.0.1:${ports.http2}" }
store: { path: ./ledger.db }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${ports.meter2}", unitId: 1 } }
miners:
  - { hosts: 127.54.0.1-127.54.0.45, dialect: luxos }
control:${CONTROL.replace(`shedMarginW: ${SHED_MARGIN_W}`, `shedMarginW: ${SURPLUS_SHED_MARGIN_W}`).replace("restoreMarginW: 6kW", "restoreMarginW: 10kW")}
  failsafeBudgetW: 0
sim: { seed: 7, noiseW: 100, auxW: 6kW, generation: { peakW: 150kW, cloudDepth: 0.5, cloudEveryS: 25, cloudS: 12 } }
`;
  const surplus = await startPhase(surplusYaml, []);
  await wait(WARMUP_MS);
  const w = await runSteps(
    surplus,
    [
      {
        key: "surplus",
        name: "surplus following (zero import, 150 kW solar, passing clouds)",
        target: () => 0,
        ms: SURPLUS_MS,
        enter: () => {},
      },
    ],
    { stepMs: STEP_MS, want },
  );
  await surplus.stop();
  surplusRows = figures(surplus, w, { ...FIGURES, shedMarginW: SURPLUS_SHED_MARGIN_W });
}

// ---------------------------------------------------------------- figures

// M&V: one record per step with a requested target (a curtailment event)
const mnv = mnvRecords(day.samples, dayWindows);
const ers = ersFigures(day.samples, { ersAt, ersW: ERS_W, deadlineEvents });
const summary = {
  strategy: STRATEGY,
  stepMs: STEP_MS,
  rampUpWPerMin: RAMP_W_PER_MIN,
  oneMinerW: ONE_MINER_W,
  minOnS: MIN_ON_S,
  steps: [...dayRows, ...surplusRows],
  ers,
  mnv,
};
mkdirSync(join(OUT, ".."), { recursive: true });
// the raw ground truth, for a look at one step (SCENARIO_SAMPLES=file)
if (process.env.SCENARIO_SAMPLES) {
  writeFileSync(process.env.SCENARIO_SAMPLES, JSON.stringify({ samples: day.samples, moves: day.moves }));
}
writeFileSync(OUT, `${JSON.stringify(summary, null, 2)}\n`);
if (STRATEGY === "sleep" && mnv.length > 0) writeMnv(resultsDir(import.meta.url), mnv);
console.error(`scenario (${STRATEGY}): ${summary.steps.length} steps → ${OUT}`);
process.exit(0);
