// Planner latency at the documented scale: 5,000 miners + 100 GPU nodes (8 GPUs
// each). Prints p50/p99 over 200 runs per scenario; the target is ≤ 10 ms p99.
// Run: node --import tsx bench/policy.ts [--miners N]
import { parseArgs } from "node:util";
import { plan } from "../agent/control/policy.ts";
import type {
  DeviceLedger,
  LedgerView,
  PlanGpuNode,
  PlanMiner,
  PlanSnapshot,
  PolicyConfig,
} from "../agent/control/types.ts";
import { mulberry32 } from "../sim/prng.ts";

const MINERS = Number(parseArgs({ options: { miners: { type: "string", default: "5000" } } }).values.miners);
const NODES = 100;
const RUNS = 200;
const NOW = 1_700_000_000_000;
const CONFIG: PolicyConfig = {
  shedMarginW: 50_000,
  restoreMarginW: 150_000,
  emergencyMarginW: 500_000,
  minOnS: 300,
  minOffS: 120,
  rampUpWPerMin: 2_000_000,
  restoreStaggerS: 10,
  strategy: "power-limit-then-sleep",
};

function fleet(sleptShare: number) {
  // the sim's seeded PRNG, so every run plans the same fleet
  const r = mulberry32(42);
  const devices = new Map<string, DeviceLedger>();
  const miners: PlanMiner[] = [];
  let minersW = 0;
  for (let i = 0; i < MINERS; i++) {
    const id = `m-${i}`;
    const powerW = 3000 + Math.round(r() * 1000);
    const hashrateThs = 90 + Math.round(r() * 150);
    const slept = r() < sleptShare;
    if (slept) {
      devices.set(id, {
        sleptAt: NOW - 600_000,
        sleptPowerW: powerW,
        efficiencyJPerTh: powerW / hashrateThs,
      });
    } else if (r() < 0.05) {
      devices.set(id, { wokeAt: NOW - Math.round(r() * 600_000) });
    }
    miners.push({
      id,
      priority: Math.floor(r() * 3),
      state: slept ? "sleeping" : "hashing",
      powerW: slept ? 0 : powerW,
      hashrateThs: slept ? 0 : hashrateThs,
      capabilities: r() < 0.5 ? ["sleep", "wake", "setPowerLimit"] : ["sleep", "wake"],
      excluded: r() < 0.01,
    });
    if (!slept) minersW += powerW;
  }
  const gpuNodes: PlanGpuNode[] = [];
  let aiW = 0;
  for (let n = 0; n < NODES; n++) {
    const gpus = Array.from({ length: 8 }, (_, index) => {
      const powerW = 500 + Math.round(r() * 200);
      aiW += powerW;
      return { index, powerW, powerLimitW: 700, minLimitW: 200, maxLimitW: 700, defaultLimitW: 700 };
    });
    gpuNodes.push({ id: `gpu-${n}`, floorW: 350, gpus });
  }
  return { miners, gpuNodes, devices, minersW, aiW };
}

function measure(name: string, snapshot: PlanSnapshot, budgetW: number, ledger: LedgerView): void {
  for (let i = 0; i < 20; i++) plan(snapshot, { budgetW }, CONFIG, ledger, NOW); // warm-up
  const times: number[] = [];
  let actions = 0;
  for (let i = 0; i < RUNS; i++) {
    const t0 = process.hrtime.bigint();
    const p = plan(snapshot, { budgetW }, CONFIG, ledger, NOW);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    actions = p.actions.length;
  }
  times.sort((a, b) => a - b);
  const q = (f: number) => times[Math.min(times.length - 1, Math.ceil(f * times.length) - 1)]!;
  const p99 = q(0.99);
  console.log(
    `${name.padEnd(34)} p50 ${q(0.5).toFixed(2)} ms  p99 ${p99.toFixed(2)} ms  max ${times.at(-1)!.toFixed(2)} ms  actions ${actions}  ${p99 <= 10 ? "ok" : "OVER 10 ms"}`,
  );
}

console.log(`plan(): ${MINERS} miners, ${NODES} GPU nodes × 8 GPUs, ${RUNS} runs each`);
{
  // shed half the mining load
  const f = fleet(0);
  const P = f.minersW + f.aiW + 200_000;
  const snapshot: PlanSnapshot = { powerW: P, powerSource: "meter", miners: f.miners, gpuNodes: f.gpuNodes };
  measure("shed (half the mining)", snapshot, P - f.minersW / 2, { devices: f.devices, restores: [] });
  measure("shed (all mining + AI caps)", snapshot, f.aiW / 2, { devices: f.devices, restores: [] });
}
{
  // restore: 60 % of the fleet asleep by the agent, plenty of headroom
  const f = fleet(0.6);
  const P = f.minersW + f.aiW + 200_000;
  const snapshot: PlanSnapshot = { powerW: P, powerSource: "meter", miners: f.miners, gpuNodes: f.gpuNodes };
  measure("restore (3,000 asleep)", snapshot, P + 10_000_000, { devices: f.devices, restores: [] });
  measure("hold (dead band)", snapshot, P + 100_000, { devices: f.devices, restores: [] });
}
