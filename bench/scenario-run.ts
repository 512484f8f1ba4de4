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
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import modbusSerial from "modbus-serial";
import { startSimFromConfig } from "../agent/cli/simulated-site.ts";
import type { TickResult } from "../agent/control/loop.ts";
import { silentLogger } from "../agent/runtime/logger.ts";
import { Site } from "../agent/site/site.ts";
import { loadConfig } from "../config/load.ts";
import { type GpuNodeSim, startGpuNodeSim } from "../sim/gpu/server.ts";
import { generateKeyPair } from "../sim/gpu/ssh2.ts";
import { resultsDir } from "./results-dir.ts";
import { type Move, type Sample, type StepFigures, settledFlags, stepFigures } from "./scenario-figures.ts";

const STRATEGY = process.env.SCENARIO_STRATEGY === "track" ? "track" : "sleep";
const OUT = process.env.SCENARIO_OUT ?? join(resultsDir(import.meta.url), `scenario-${STRATEGY}.json`);
const STEP_MS = Number(process.env.SCENARIO_STEP_MS ?? 15_000);
const SWING_MS = Number(process.env.SCENARIO_SWING_MS ?? 180_000);
const SURPLUS_MS = Number(process.env.SCENARIO_SURPLUS_MS ?? 120_000);
/** Comma-separated step keys to run (development); default all. */
const ONLY = process.env.SCENARIO_ONLY ? new Set(process.env.SCENARIO_ONLY.split(",")) : null;
const SAMPLE_MS = 250;
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

interface Step {
  key: string;
  name: string;
  target: () => number | null;
  enter: () => void;
  leave?: () => void;
  /** Ends at this epoch ms instead of after STEP_MS. */
  until?: () => number;
  ms?: number;
}

interface Phase {
  site: Site;
  sim: Awaited<ReturnType<typeof startSimFromConfig>>;
  gpus: GpuNodeSim[];
  samples: Sample[];
  moves: Move[];
  toggles: Array<{ at: number; id: string }>;
  setStep(name: string): void;
  stop(): Promise<void>;
}

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

/** Starts a simulated site from `base` (+ GPU nodes over SSH), the agent on it, and the samplers. */
async function startPhase(base: string, gpuCount: number): Promise<Phase> {
  const dir = mkdtempSync(join(tmpdir(), "wk-scenario-"));
  const client = generateKeyPair();
  writeFileSync(join(dir, "id_ed25519"), client.privateKey, { mode: 0o600 });
  writeFileSync(join(dir, "sim.yaml"), base);
  const sim = await startSimFromConfig((await loadConfig(join(dir, "sim.yaml"))).config, silentLogger());
  const gpus: GpuNodeSim[] = [];
  for (const id of GPU_NODES.slice(0, gpuCount))
    gpus.push(await startGpuNodeSim({ id, authorizedKeys: [client.publicKey], model: sim.model }));
  const nodes = gpus
    .map(
      (g) =>
        `  - { id: ${g.id}, host: 127.0.0.1, port: ${g.port}, user: wk, privateKeyFile: ./id_ed25519, hostKeySha256: "${g.hostKeyFingerprint}", floorW: 350 }`,
    )
    .join("\n");
  writeFileSync(join(dir, "site.yaml"), gpus.length ? `${base}gpuNodes:\n${nodes}\n` : base);
  const { config } = await loadConfig(join(dir, "site.yaml"), { strictFiles: true });
  const site = new Site(config, silentLogger(), { minerPollMs: 500, meterPollMs: 250 });

  const samples: Sample[] = [];
  const moves: Move[] = [];
  const toggles: Phase["toggles"] = [];
  let step = "warm-up";
  sim.model.onStateChange((id, to, prev) => {
    if ((prev === "sleeping") !== (to === "sleeping")) toggles.push({ at: Date.now(), id });
  });
  site.onEvent((e) => {
    const action = e.data?.action;
    if (e.deviceId === null || (e.kind !== "shed" && e.kind !== "restored")) return;
    if (typeof action !== "string" || GPU_NODES.includes(e.deviceId)) return;
    moves.push({ at: e.at, deviceId: e.deviceId, dir: e.kind === "shed" ? -1 : 1, kind: action });
  });
  let rampHeldAt = 0;
  const sampler = setInterval(() => {
    const last = (site as unknown as { loop: { last: TickResult | null } | null }).loop?.last ?? null;
    const budgetW = last?.budget?.budgetW;
    if (last?.plan?.alarms.some((a) => a.code === "ramp-limited")) rampHeldAt = Date.now();
    samples.push({
      at: Date.now(),
      step,
      siteW: sim.model.totalW(),
      miningW: sim.model.classW("mining"),
      aiW: sim.model.classW("ai"),
      budgetW: budgetW ?? config.site.contractLimitW,
      aiCapped: gpus.some((g) => g.smi.gpus.some((x) => x.limitW < x.defaultW)),
      // between restore batches (restoreStaggerS) the ramp still holds what waits
      rampHeld: Date.now() - rampHeldAt < (config.control.restoreStaggerS + 2) * 1000,
    });
  }, SAMPLE_MS);
  await site.start();
  return {
    site,
    sim,
    gpus,
    samples,
    moves,
    toggles,
    setStep: (name) => {
      step = name;
    },
    stop: async () => {
      clearInterval(sampler);
      await site.stop();
      for (const g of gpus) await g.stop();
      await sim.stop();
    },
  };
}

/** Runs the steps in order; returns each step's window. */
async function runSteps(phase: Phase, steps: Step[]) {
  const windows: Array<{ key: string; name: string; from: number; to: number; target: number | null }> = [];
  for (const s of steps.filter((x) => want(x.key))) {
    phase.setStep(s.name);
    const from = Date.now();
    s.enter();
    await wait(s.until ? Math.max(0, s.until() - Date.now()) : (s.ms ?? STEP_MS));
    s.leave?.();
    windows.push({ key: s.key, name: s.name, from, to: Date.now(), target: s.target() });
  }
  return windows;
}

function figures(
  phase: Phase,
  windows: Awaited<ReturnType<typeof runSteps>>,
  shedMarginW = SHED_MARGIN_W,
): StepFigures[] {
  // mining with nothing curtailed: the phase's highest, less noise
  const fullMiningW = Math.max(0, ...phase.samples.map((s) => s.miningW));
  const settled = settledFlags(phase.samples);
  return windows.map((w) => {
    const inStep = <T extends { at: number }>(xs: readonly T[]) =>
      xs.filter((x) => x.at >= w.from && x.at < w.to);
    const idx = phase.samples.flatMap((s, i) => (s.at >= w.from && s.at < w.to ? [i] : []));
    return stepFigures(
      w.name,
      inStep(phase.samples),
      idx.map((i) => settled[i]!),
      {
        sampleMs: SAMPLE_MS,
        shedMarginW,
        fullMiningW,
        curtailedByW: ONE_MINER_W,
        toggles: inStep(phase.toggles).length,
        moves: inStep(phase.moves),
        minOnMs: MIN_ON_S * 1000,
      },
    );
  });
}

// ---------------------------------------------------------------- phase 1: the day

const ports = {
  http: 18_480 + Math.floor(Math.random() * 1000),
  meter: 19_480 + Math.floor(Math.random() * 1000),
  qse: 20_480 + Math.floor(Math.random() * 1000),
  http2: 21_480 + Math.floor(Math.random() * 1000),
  meter2: 22_480 + Math.floor(Math.random() * 1000),
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
const day = await startPhase(dayYaml, GPU_NODES.length);
const { site, sim, gpus } = day;
const deadlineEvents: Array<{
  at: number;
  kind: string;
  message: string;
  data: Record<string, unknown> | null;
}> = [];
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
    enter: () => site.setBudgetLease(120_000, 600, "DR event"),
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
      site.setBudgetLease(140_000, 600, "tight");
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
      site.setBudgetLease(SWING_LEASE_W, 900, "AI swing under a tight lease");
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
const dayWindows = await runSteps(day, daySteps);
await new Promise<void>((r) => qse.close(() => r()));
await day.stop();
const dayRows = figures(day, dayWindows);

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
  const surplus = await startPhase(surplusYaml, 0);
  await wait(WARMUP_MS);
  const w = await runSteps(surplus, [
    {
      key: "surplus",
      name: "surplus following (zero import, 150 kW solar, passing clouds)",
      target: () => 0,
      ms: SURPLUS_MS,
      enter: () => {},
    },
  ]);
  await surplus.stop();
  surplusRows = figures(surplus, w, SURPLUS_SHED_MARGIN_W);
}

// ---------------------------------------------------------------- figures

const avg = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
// M&V: one record per step with a requested target (a curtailment event)
const mnv = dayWindows
  .filter((w) => w.target !== null)
  .map((w) => {
    const before = day.samples.filter((s) => s.at >= w.from - 5000 && s.at < w.from);
    const during = day.samples.filter((s) => s.at >= w.from && s.at < w.to);
    const baselineW = avg(before.map((s) => s.siteW));
    const settled = during.filter((s) => s.at >= w.from + 5000);
    return {
      event: w.name,
      start: new Date(w.from).toISOString(),
      durationS: Math.round((w.to - w.from) / 1000),
      baselineW: Math.round(baselineW),
      targetW: w.target,
      deliveredReductionW: Math.round(baselineW - avg(during.map((s) => s.siteW))),
      compliant: settled.every((s) => s.siteW <= (w.target as number)),
    };
  });
// ERS-10: from the setpoint written to the site under it (ground truth), and the program's own verdict
const underAt = ersAt ? (day.samples.find((s) => s.at >= ersAt && s.siteW <= ERS_W)?.at ?? null) : null;
const met = deadlineEvents.find((e) => e.kind === "program-deadline-met" && e.at >= ersAt);
const ers = ersAt
  ? {
      targetW: ERS_W,
      siteWAtWrite: day.samples.filter((s) => s.at < ersAt).at(-1)?.siteW ?? null,
      secondsToTarget: underAt === null ? null : Number(((underAt - ersAt) / 1000).toFixed(2)),
      deadlineS: 600,
      deadlineHeld: met?.data?.met === true && underAt !== null && underAt - ersAt <= 600_000,
      agentSaid:
        met?.message ?? deadlineEvents.filter((e) => e.at >= ersAt).at(-1)?.message ?? "no program event",
    }
  : null;
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
if (STRATEGY === "sleep" && mnv.length > 0) {
  const out = resultsDir(import.meta.url);
  writeFileSync(join(out, "mnv.json"), `${JSON.stringify(mnv, null, 2)}\n`);
  const keys = Object.keys(mnv[0]!);
  writeFileSync(
    join(out, "mnv.csv"),
    `${[keys.join(","), ...mnv.map((m) => keys.map((k) => JSON.stringify((m as Record<string, unknown>)[k])).join(","))].join("\n")}\n`,
  );
}
console.error(`scenario (${STRATEGY}): ${summary.steps.length} steps → ${OUT}`);
process.exit(0);
