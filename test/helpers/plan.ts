// Fixtures for the pure planner's tests: a site's views built in one line each
// (miners, GPU nodes, a snapshot, the ledger's view) around one fixed `NOW`.
import type { plan } from "../../agent/control/policy.ts";
import type {
  DeviceLedger,
  LedgerView,
  PlanGpuNode,
  PlanMiner,
  PlanSnapshot,
  PolicyConfig,
  RestoreRecord,
} from "../../agent/control/types.ts";

export const NOW = 1_000_000_000;
/** A 100 kW budget. */
export const B = { budgetW: 100_000 };

/** The margins and dwell times most planner tests start from; `o` changes what a test is about. */
export function policyConfig(o: Partial<PolicyConfig> = {}): PolicyConfig {
  return {
    shedMarginW: 5_000,
    restoreMarginW: 15_000,
    emergencyMarginW: 50_000,
    minOnS: 300,
    minOffS: 120,
    rampUpWPerMin: 20_000,
    restoreStaggerS: 10,
    strategy: "sleep",
    ...o,
  };
}

/** A hashing miner that can sleep and wake. */
export function miner(
  id: string,
  powerW: number,
  hashrateThs: number,
  o: Partial<PlanMiner> = {},
): PlanMiner {
  return {
    id,
    priority: 0,
    state: "hashing",
    powerW,
    hashrateThs,
    capabilities: ["sleep", "wake"],
    excluded: false,
    ...o,
  };
}

export function asleep(id: string, o: Partial<PlanMiner> = {}): PlanMiner {
  return miner(id, 0, 0, { state: "sleeping", ...o });
}

/** A GPU node with one GPU per [powerW, limitW] pair, each limit settable in [200, 700] W. */
export function gpuNode(
  id: string,
  gpus: [powerW: number, limitW: number][],
  o: Partial<PlanGpuNode> = {},
): PlanGpuNode {
  return {
    id,
    floorW: 300,
    gpus: gpus.map(([powerW, limitW], index) => ({
      index,
      powerW,
      powerLimitW: limitW,
      minLimitW: 200,
      maxLimitW: 700,
      defaultLimitW: 700,
    })),
    ...o,
  };
}

/** The snapshot the planner sees: site power from the meter (none when null). */
export function snap(
  powerW: number | null,
  miners: PlanMiner[],
  gpuNodes: PlanGpuNode[] = [],
  o: Partial<PlanSnapshot> = {},
): PlanSnapshot {
  return { powerW, powerSource: powerW === null ? null : "meter", miners, gpuNodes, ...o };
}

export function ledger(
  devices: Record<string, DeviceLedger> = {},
  restores: RestoreRecord[] = [],
): LedgerView {
  return { devices: new Map(Object.entries(devices)), restores };
}

/** Slept by the agent long enough ago that minOffS has passed. */
export function sleptBy(powerW: number, eff: number, ago = 600_000): DeviceLedger {
  return { sleptAt: NOW - ago, sleptPowerW: powerW, efficiencyJPerTh: eff };
}

/** A plan's actions as `kind:deviceId[#gpu]`, for compact assertions. */
export const short = (p: ReturnType<typeof plan>) =>
  p.actions.map((a) => `${a.kind}:${a.deviceId}${a.gpuIndex === undefined ? "" : `#${a.gpuIndex}`}`);

/** The planner's default config, for tests of one rule at a time. */
export const CFG = policyConfig();
/** The short name the planner's rule-by-rule tests give gpuNode. */
export { gpuNode as node };
