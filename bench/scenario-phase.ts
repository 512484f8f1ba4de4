// One phase of `npm run scenario` (bench/scenario-run.ts): a simulated site
// from a config (+ GPU nodes over SSH), the real agent on it in this process,
// and the samplers that record the ground truth (the simulator's power model
// every SAMPLE_MS), the agent's moves and the miners' sleep toggles; then the
// steps run in order and each step's window turned into figures.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSimFromConfig } from "../agent/cli/simulated-site.ts";
import type { TickResult } from "../agent/control/loop.ts";
import { silentLogger } from "../agent/runtime/logger.ts";
import { Site } from "../agent/site/site.ts";
import { loadConfig } from "../config/load.ts";
import type { GpuNodeSim } from "../sim/gpu/server.ts";
import { gpuNodesYaml, startGpuSims } from "../test/helpers/gpu-sims.ts";
import { type Move, type Sample, type StepFigures, settledFlags, stepFigures } from "./scenario-figures.ts";

export const SAMPLE_MS = 250;

export interface Step {
  key: string;
  name: string;
  target: () => number | null;
  enter: () => void;
  leave?: () => void;
  /** Ends at this epoch ms instead of after the run's step length. */
  until?: () => number;
  ms?: number;
}

export interface Phase {
  site: Site;
  sim: Awaited<ReturnType<typeof startSimFromConfig>>;
  gpus: GpuNodeSim[];
  samples: Sample[];
  moves: Move[];
  toggles: Array<{ at: number; id: string }>;
  setStep(name: string): void;
  stop(): Promise<void>;
}

export interface StepWindow {
  key: string;
  name: string;
  from: number;
  to: number;
  target: number | null;
}

/** Starts the site `yaml` describes, GPU nodes `gpuIds` on its power model, the agent and the samplers. */
export async function startPhase(yaml: string, gpuIds: readonly string[]): Promise<Phase> {
  const dir = mkdtempSync(join(tmpdir(), "wk-scenario-"));
  writeFileSync(join(dir, "sim.yaml"), yaml);
  const sim = await startSimFromConfig((await loadConfig(join(dir, "sim.yaml"))).config, silentLogger());
  const gpus = gpuIds.length ? await startGpuSims(gpuIds, { dir, model: sim.model }) : [];
  writeFileSync(join(dir, "site.yaml"), gpus.length ? `${yaml}${gpuNodesYaml(gpus)}` : yaml);
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
    if (typeof action !== "string" || gpuIds.includes(e.deviceId)) return;
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

/** Runs the steps `want` keeps, in order, each `stepMs` unless it says otherwise; returns each one's window. */
export async function runSteps(
  phase: Phase,
  steps: Step[],
  o: { stepMs: number; want: (key: string) => boolean },
): Promise<StepWindow[]> {
  const windows: StepWindow[] = [];
  for (const s of steps.filter((x) => o.want(x.key))) {
    phase.setStep(s.name);
    const from = Date.now();
    s.enter();
    const ms = s.until ? Math.max(0, s.until() - Date.now()) : (s.ms ?? o.stepMs);
    await new Promise((r) => setTimeout(r, ms));
    s.leave?.();
    windows.push({ key: s.key, name: s.name, from, to: Date.now(), target: s.target() });
  }
  return windows;
}

/** Each window's figures; `curtailedByW` is "one miner" in the ramp figure. */
export function figures(
  phase: Phase,
  windows: readonly StepWindow[],
  o: { shedMarginW: number; curtailedByW: number; minOnS: number },
): StepFigures[] {
  // mining with nothing curtailed: the phase's highest, less noise
  const fullMiningW = Math.max(0, ...phase.samples.map((s) => s.miningW));
  const settled = settledFlags(phase.samples);
  return windows.map((w) => {
    const inStep = <T extends { at: number }>(xs: readonly T[]) =>
      xs.filter((x) => x.at >= w.from && x.at < w.to);
    const idx = phase.samples.flatMap((s, i) => (s.at >= w.from && s.at < w.to ? [i] : []));
    return stepFigures(w.name, inStep(phase.samples), {
      settled: idx.map((i) => settled[i]!),
      sampleMs: SAMPLE_MS,
      shedMarginW: o.shedMarginW,
      fullMiningW,
      curtailedByW: o.curtailedByW,
      toggles: inStep(phase.toggles).length,
      moves: inStep(phase.moves),
      minOnMs: o.minOnS * 1000,
    });
  });
}
