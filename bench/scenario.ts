// `npm run scenario`: a compressed day on the simulator, replayed against the
// real agent (drivers, poller, ledger, loop) in one process. Steps: budget
// step down, step up, AI surge under a tight lease, price spike, meter
// dropout, a 4CP window from the config's schedule, and an ERS-10 deployment
// (a QSE setpoint written over Modbus, under the ers-10 program's deadline) (schedule windows have
// minute resolution, so that step is one whole clock minute, and the step
// before it is stretched to end on the minute). Ground truth comes from the simulator's power model, sampled every
// 250 ms. Prints a table and writes JSON, plus M&V records (JSON and CSV) for
// each curtailment event, to bench/results/.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import modbusSerial from "modbus-serial";
import { silentLogger } from "../agent/logger.ts";
import { startSimFromConfig } from "../agent/simulated-site.ts";
import { Site } from "../agent/site.ts";
import { loadConfig } from "../config/load.ts";
import { type GpuNodeSim, startGpuNodeSim } from "../sim/gpu/server.ts";
import { generateKeyPair } from "../sim/gpu/ssh2.ts";
import { resultsDir } from "./results-dir.ts";

const STEP_MS = Number(process.env.SCENARIO_STEP_MS ?? 15_000);
const SAMPLE_MS = 250;
const CONTRACT_W = 170_000;
const MIN_ON_S = 3;
const MIN_OFF_S = 3;
const RAMP_W_PER_MIN = 40_000;
const WARMUP_MS = 4000;
const FOURCP_W = 130_000;

// The 4CP window: the first whole UTC minute that starts after the steps
// before it (6 steps + warm-up + start-up slack) have run.
const STEPS_BEFORE_4CP = 7;
const windowStart = Math.ceil((Date.now() + WARMUP_MS + STEPS_BEFORE_4CP * STEP_MS + 5000) / 60_000) * 60_000;
const hhmm = (t: number) => new Date(t).toISOString().slice(11, 16);

const dir = mkdtempSync(join(tmpdir(), "wk-scenario-"));
const client = generateKeyPair();
writeFileSync(join(dir, "id_ed25519"), client.privateKey, { mode: 0o600 });
const ports = {
  http: 18_480 + Math.floor(Math.random() * 1000),
  meter: 19_480 + Math.floor(Math.random() * 1000),
  qse: 20_480 + Math.floor(Math.random() * 1000),
};
const ERS_W = 100_000;
const base = `site: { id: scenario, timezone: UTC, contractLimitW: ${CONTRACT_W} }
http: { listen: "127.0.0.1:${ports.http}" }
store: { path: ./ledger.db }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${ports.meter}", unitId: 1 } }
miners:
  - { hosts: 127.53.0.1-127.53.0.45, dialect: luxos }
control:
  tickS: 0.5
  shedMarginW: 2kW
  restoreMarginW: 6kW
  emergencyMarginW: 10kW
  minOnS: ${MIN_ON_S}
  minOffS: ${MIN_OFF_S}
  rampUpWPerMin: ${RAMP_W_PER_MIN}
  restoreStaggerS: 1
  meterStaleS: 3
  unmeteredW: 6kW
  failsafeBudgetW: 80kW
  economics: { hashpricePerThDay: 0.05, energyPricePerKwh: 0.03 }
  schedule:
    - { name: "4CP peak window", from: "${hhmm(windowStart)}", to: "${hhmm(windowStart + 60_000)}", budgetW: ${FOURCP_W} }
  programs: [{ kind: ers-10 }]
signals:
  modbusServer: { name: qse, listen: "127.0.0.1:${ports.qse}", allow: [127.0.0.1], staleS: 30 }
sim: { seed: 42, noiseW: 100, auxW: 6kW }
`;
writeFileSync(join(dir, "sim.yaml"), base);
const sim = await startSimFromConfig((await loadConfig(join(dir, "sim.yaml"))).config, silentLogger());
const gpus: GpuNodeSim[] = [];
for (const id of ["gpu-a", "gpu-b"])
  gpus.push(await startGpuNodeSim({ id, authorizedKeys: [client.publicKey], model: sim.model }));
const nodes = gpus
  .map(
    (g) =>
      `  - { id: ${g.id}, host: 127.0.0.1, port: ${g.port}, user: wk, privateKeyFile: ./id_ed25519, hostKeySha256: "${g.hostKeyFingerprint}", floorW: 350 }`,
  )
  .join("\n");
writeFileSync(join(dir, "site.yaml"), `${base}gpuNodes:\n${nodes}\n`);
const { config } = await loadConfig(join(dir, "site.yaml"), { strictFiles: true });
const site = new Site(config, silentLogger(), { minerPollMs: 500, meterPollMs: 250 });

// toggles and wakes, from the model's own transitions
const toggles = new Map<string, number[]>();
const wakes: Array<{ at: number; w: number }> = [];
sim.model.onStateChange((id, to, prev) => {
  if ((prev === "sleeping") !== (to === "sleeping"))
    toggles.set(id, [...(toggles.get(id) ?? []), Date.now()]);
  if (prev === "sleeping" && (to === "hashing" || to === "starting")) {
    wakes.push({ at: Date.now(), w: sim.model.minerView(id).model.nominalW });
  }
});

interface Sample {
  at: number;
  step: string;
  siteW: number;
  miningW: number;
  budgetW: number;
  aiCapped: boolean;
}
const samples: Sample[] = [];
let step = "warm-up";
const sampler = setInterval(() => {
  const budgetW = (site as unknown as { loop: { last: { budget: { budgetW: number } | null } | null } }).loop
    ?.last?.budget?.budgetW;
  samples.push({
    at: Date.now(),
    step,
    siteW: sim.model.totalW(),
    miningW: sim.model.classW("mining"),
    budgetW: budgetW ?? CONTRACT_W,
    aiCapped: gpus.some((g) => g.smi.gpus.some((x) => x.limitW < x.defaultW)),
  });
}, SAMPLE_MS);

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
const steps: Array<{
  name: string;
  target: () => number | null;
  enter: () => void;
  leave?: () => void;
  /** Ends at this epoch ms instead of after STEP_MS. */
  until?: () => number;
}> = [
  { name: "baseline", target: () => null, enter: () => {} },
  {
    name: "budget step down (lease 120 kW)",
    target: () => 120_000,
    enter: () => site.setBudgetLease(120_000, 600, "DR event"),
  },
  { name: "budget step up (lease ends)", target: () => null, enter: () => site.clearBudgetLease() },
  {
    name: "AI surge under a 140 kW lease",
    target: () => 140_000,
    enter: () => {
      site.setBudgetLease(140_000, 600, "tight");
      for (const g of gpus) for (const x of g.smi.gpus) x.busy = true;
    },
    leave: () => site.clearBudgetLease(),
  },
  {
    name: "price spike (0.08/kWh)",
    target: () => null,
    enter: () => site.setPrices({ energyPricePerKwh: 0.08 }),
    leave: () => site.setPrices({ energyPricePerKwh: 0.03 }),
  },
  {
    name: "meter dropout",
    target: () => null,
    enter: () => sim.meters.get("pcc")?.setFault("timeout"),
    leave: () => sim.meters.get("pcc")?.setFault(null),
  },
  { name: "recovery", target: () => null, enter: () => {}, until: () => windowStart },
  {
    name: `4CP window (schedule, ${FOURCP_W / 1000} kW)`,
    target: () => FOURCP_W,
    enter: () => {},
    until: () => windowStart + 60_000,
  },
  { name: "4CP window ends", target: () => null, enter: () => {} },
  {
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
  { name: "ERS released", target: () => null, enter: () => {} },
];

const deadlineEvents: Array<{
  at: number;
  kind: string;
  message: string;
  data: Record<string, unknown> | null;
}> = [];
site.onEvent((e) => {
  if (e.kind.startsWith("program-deadline")) deadlineEvents.push(e);
});
await site.start();
// the QSE's RTU, connected before its step as an RTU stays connected
const qse = new modbusSerial.default();
qse.setTimeout(5000);
await qse.connectTCP("127.0.0.1", { port: ports.qse });
qse.setID(1);
let ersAt = 0;
let beat = 1;
let heartbeat: NodeJS.Timeout | null = null;
await wait(WARMUP_MS);
const stepWindows: Array<{ name: string; from: number; to: number; target: number | null }> = [];
for (const s of steps) {
  step = s.name;
  const from = Date.now();
  s.enter();
  await wait(s.until ? Math.max(0, s.until() - Date.now()) : STEP_MS);
  s.leave?.();
  stepWindows.push({ name: s.name, from, to: Date.now(), target: s.target() });
}
clearInterval(sampler);
await new Promise<void>((r) => qse.close(() => r()));
await site.stop();
for (const g of gpus) await g.stop();
await sim.stop();

// ---- figures
const avg = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
const baselineMiningW = avg(samples.filter((s) => s.step === "baseline").map((s) => s.miningW));
const rows = stepWindows.map((w) => {
  const ss = samples.filter((s) => s.at >= w.from && s.at < w.to);
  const over = ss.filter((s) => s.siteW > s.budgetW).length * (SAMPLE_MS / 1000);
  const curtailedMWh = ss.reduce(
    (a, s) => a + (Math.max(0, baselineMiningW - s.miningW) * SAMPLE_MS) / 3.6e12,
    0,
  );
  return {
    step: w.name,
    secondsOverBudget: over,
    avgSiteKW: Math.round(avg(ss.map((s) => s.siteW)) / 100) / 10,
    budgetKW: Math.round(avg(ss.map((s) => s.budgetW)) / 100) / 10,
    curtailedMWh: Number(curtailedMWh.toFixed(6)),
    aiCappedS: ss.filter((s) => s.aiCapped).length * (SAMPLE_MS / 1000),
  };
});
let maxRamp = 0;
for (const w of wakes) {
  const inWindow = wakes.filter((x) => x.at >= w.at && x.at < w.at + 60_000).reduce((a, x) => a + x.w, 0);
  maxRamp = Math.max(maxRamp, inWindow);
}
const toggleCounts = [...toggles.values()].map((t) => t.length);
const fastRetoggles = [...toggles.values()].filter((t) =>
  t.some((at, i) => i >= 2 && at - t[i - 2]! < (MIN_ON_S + MIN_OFF_S) * 1000),
).length;
// M&V: one record per step with a requested target (a curtailment event)
const mnv = stepWindows
  .filter((w) => w.target !== null)
  .map((w) => {
    const before = samples.filter((s) => s.at >= w.from - 5000 && s.at < w.from);
    const during = samples.filter((s) => s.at >= w.from && s.at < w.to);
    const baselineW = avg(before.map((s) => s.siteW));
    const deliveredW = baselineW - avg(during.map((s) => s.siteW));
    const settled = during.filter((s) => s.at >= w.from + 5000);
    return {
      event: w.name,
      start: new Date(w.from).toISOString(),
      durationS: Math.round((w.to - w.from) / 1000),
      baselineW: Math.round(baselineW),
      targetW: w.target,
      deliveredReductionW: Math.round(deliveredW),
      compliant: settled.every((s) => s.siteW <= (w.target as number)),
    };
  });
// ERS-10: from the setpoint written to the site under it (ground truth), and the program's own verdict
const underAt = samples.find((s) => s.at >= ersAt && s.siteW <= ERS_W)?.at ?? null;
const met = deadlineEvents.find((e) => e.kind === "program-deadline-met" && e.at >= ersAt);
const atWrite = samples.filter((s) => s.at < ersAt).at(-1) ?? null;
const ers = {
  targetW: ERS_W,
  siteWAtWrite: atWrite?.siteW ?? null,
  secondsToTarget: underAt === null ? null : Number(((underAt - ersAt) / 1000).toFixed(2)),
  deadlineS: 600,
  deadlineHeld: met?.data?.met === true && underAt !== null && underAt - ersAt <= 600_000,
  agentSaid:
    met?.message ?? deadlineEvents.filter((e) => e.at >= ersAt).at(-1)?.message ?? "no program event",
};
const summary = {
  stepMs: STEP_MS,
  ers,
  steps: rows,
  togglesPerMinerMax: Math.max(0, ...toggleCounts),
  minersToggledTwiceWithinMinOnPlusMinOff: fastRetoggles,
  largestRestoreRampWPerMin: Math.round(maxRamp),
  rampUpWPerMin: RAMP_W_PER_MIN,
  curtailedMWh: Number(rows.reduce((a, r) => a + r.curtailedMWh, 0).toFixed(6)),
  aiCappedS: rows.reduce((a, r) => a + r.aiCappedS, 0),
  mnv,
};
const out = resultsDir(import.meta.url);
mkdirSync(out, { recursive: true });
writeFileSync(join(out, "scenario.json"), `${JSON.stringify(summary, null, 2)}\n`);
writeFileSync(join(out, "mnv.json"), `${JSON.stringify(mnv, null, 2)}\n`);
const csvKeys = Object.keys(mnv[0] ?? {});
writeFileSync(
  join(out, "mnv.csv"),
  `${[csvKeys.join(","), ...mnv.map((m) => csvKeys.map((k) => JSON.stringify((m as Record<string, unknown>)[k])).join(","))].join("\n")}\n`,
);

console.log(
  `scenario: ${steps.length} steps of ${STEP_MS / 1000} s (the 4CP window: one clock minute) on 45 LuxOS miners + 2 GPU nodes (contract ${CONTRACT_W / 1000} kW)`,
);
console.table(rows);
console.log(
  `toggles per miner (max) ${summary.togglesPerMinerMax}; toggled twice within minOn+minOff: ${fastRetoggles}; largest restore ramp ${Math.round(maxRamp / 1000)} kW/min (limit ${RAMP_W_PER_MIN / 1000}); curtailed ${summary.curtailedMWh.toFixed(4)} MWh; AI capped ${summary.aiCappedS} s`,
);
console.table(mnv);
console.log(
  `ERS-10: setpoint ${ERS_W / 1000} kW written over Modbus (site at ${ers.siteWAtWrite === null ? "—" : (ers.siteWAtWrite / 1000).toFixed(1)} kW) → site under it in ${ers.secondsToTarget ?? "—"} s; deadline (10 min) ${ers.deadlineHeld ? "held" : "MISSED"}; the agent said: ${ers.agentSaid}`,
);
console.log(`JSON: ${join(out, "scenario.json")}; M&V: ${join(out, "mnv.json")}, ${join(out, "mnv.csv")}`);
process.exit(0);
