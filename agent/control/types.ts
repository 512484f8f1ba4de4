// Input and output types of the pure control core (budget.ts, policy.ts).
// The loop builds these views from the site snapshot, the config and the
// ledger each tick; the policy sees nothing else. All times are epoch ms.
import type { ControlConfig } from "../../config/schema.ts";
import type { MinerCapability, MinerState } from "../../drivers/types.ts";

// ---------------------------------------------------------------- snapshot view

/** One miner as the policy sees it. */
export interface PlanMiner {
  id: string;
  /** Higher = kept running longer (shed last). */
  priority: number;
  state: MinerState;
  /** Measured (or estimated) draw; null = unknown (never picked for a shed: its effect cannot be counted). */
  powerW: number | null;
  hashrateThs: number | null;
  capabilities: readonly MinerCapability[];
  /** In maintenance (operator): never touched. */
  excluded: boolean;
  /** Current power limit, where the dialect reports one. */
  powerLimitW?: number | null;
  /** Lowest power limit the loop may set; default DEFAULT_MINER_LIMIT_FLOOR_FRACTION × powerW. */
  minPowerLimitW?: number | null;
  /** Highest power limit the miner takes (its model's range); track mode never raises past it. */
  maxPowerLimitW?: number | null;
  /** The limits its firmware applies, ascending (LuxOS profiles); absent = any watt. */
  powerLimitStepsW?: readonly number[] | null;
  /**
   * Its model's wake-up time, s (config/models): a woken miner is expected at its draw only
   * this long after the wake; until then the rest of the wake's power is still to come.
   */
  wakeUpS?: number | null;
}

interface PlanGpu {
  index: number;
  powerW: number | null;
  powerLimitW: number | null;
  minLimitW: number | null;
  maxLimitW: number | null;
  defaultLimitW: number | null;
}

export interface PlanGpuNode {
  id: string;
  /** Lowest per-GPU power limit the loop may set (config floorW). */
  floorW: number;
  gpus: readonly PlanGpu[];
  /** Lower priority is capped first (within a flex tier); default 0. */
  priority?: number;
  excluded?: boolean;
  /**
   * firm (default): capped only when no miner is left to shed. cap: may be capped once no
   * miner can be slept now, before firm nodes. drain: as cap, after its drain command.
   */
  flex?: GpuFlex;
  /** Capped by locking clocks at one ceiling (one step: a GPU already capped has none left). */
  clockLocked?: boolean;
}

export type GpuFlex = "firm" | "cap" | "drain";

/** AI power fallen by fallW since its peak at `since` (within the last minute). */
export interface AiFall {
  fallW: number;
  since: number;
}

/** The lean snapshot the policy plans on. */
export interface PlanSnapshot {
  /** Site power P: the site meter, or the estimate when it is stale; null when neither. */
  powerW: number | null;
  powerSource: "meter" | "estimate" | null;
  /**
   * When the meter took the reading behind powerW: an action confirmed after
   * it is not in P yet, so the ledger still counts it as pending.
   */
  powerAt?: number | null;
  miners: readonly PlanMiner[];
  gpuNodes: readonly PlanGpuNode[];
  /**
   * AI steps (each larger than control.aiStepW) seen after powerAt: the site meter does not
   * show them yet, so the plan counts them in P (swing absorption). Absent: 0.
   */
  aiSwingW?: number;
  /** AI below its highest of the last minute (the loop's AI watch): filling it keeps the site flat. */
  aiFall?: AiFall | null;
  /** AI power now (GPU nodes, or an ai meter) and when it was read: the loop finds AI steps in it. */
  aiPowerW?: number | null;
  aiPowerAt?: number | null;
}

// ---------------------------------------------------------------- ledger view

/** An action sent and not yet confirmed by telemetry. */
export interface PendingAction {
  /** Expected change of site power, W (positive magnitude). */
  expectedW: number;
  issuedAt: number;
}

/** What the agent did to one device (miner or GPU node) and when. */
export interface DeviceLedger {
  /** When the agent slept it; null once the agent woke it (or never slept it). */
  sleptAt?: number | null;
  /** Its draw when slept: the expected power of its wake. */
  sleptPowerW?: number | null;
  /** J/TH when slept: wakes go best (lowest) first. */
  efficiencyJPerTh?: number | null;
  /** When the agent last woke it (minOnS counts from here). */
  wokeAt?: number | null;
  /** A restoring action (wake, limit restore, GPU uncap) sent and not yet confirmed. */
  pendingWake?: PendingAction | null;
  /** A shedding action (sleep, limit, GPU cap) sent and not yet confirmed. */
  pendingShed?: PendingAction | null;
  /** Failed after its retries: skipped until then. */
  failedUntil?: number | null;
  /** A miner power limit the agent lowered: restored to originalW. */
  powerLimit?: { originalW: number; at: number } | null;
  /** GPU caps the agent set on this node: index → limit before the first cap. */
  gpuCaps?: ReadonlyMap<number, { originalW: number; at: number }> | null;
  /** When the agent last moved this miner's power (target, sleep or wake) and which way. */
  movedAt?: number | null;
  movedDir?: 1 | -1 | null;
  /** When the agent drained this GPU node (its drain command confirmed); null once resumed. */
  drainedAt?: number | null;
}

/** A restoring action issued by the agent: the ramp and stagger windows. */
export interface RestoreRecord {
  deviceId: string;
  expectedW: number;
  at: number;
  /** Which restore (wake, restorePowerLimit, uncapGpu); absent: not known. */
  kind?: ActionKind;
}

export interface LedgerView {
  devices: ReadonlyMap<string, DeviceLedger>;
  /**
   * Restoring actions issued recently, confirmed or not. The loop keeps at
   * least the last max(60 s, restoreStaggerS) of them.
   */
  restores: readonly RestoreRecord[];
  /** Shedding actions issued in the last 60 s (for `rampDownWPerMin`; absent: none counted). */
  sheds?: readonly RestoreRecord[];
}

// ---------------------------------------------------------------- plan

export type ActionKind =
  | "sleep"
  | "wake"
  | "setPowerLimit"
  | "restorePowerLimit"
  | "capGpu"
  | "uncapGpu"
  /** A drain-tier GPU node: its configured drain command (before its first cap). */
  | "drainGpuNode"
  /** A drained GPU node: its configured resume command (once every cap is lifted). */
  | "resumeGpuNode"
  /** Operator only: the policy never reboots. */
  | "reboot"
  /**
   * Operator only: blink the miner's LED (`seconds` > 0) or stop (0), and the agent's own
   * stop when the time is up. Moves no power: never a shed, a restore or a back-off.
   */
  | "locate";

/** Who asked for an action: the policy, or an operator (HTTP, MQTT, CLI) acting by hand. */
export type ActionOrigin = "policy" | "operator";

export interface PlanAction {
  deviceId: string;
  kind: ActionKind;
  /** The limit to set (setPowerLimit, restorePowerLimit, capGpu, uncapGpu). */
  valueW?: number;
  /** For capGpu/uncapGpu: the GPU on the node. */
  gpuIndex?: number;
  /** For locate: how long the LED blinks, s; 0 = off. */
  seconds?: number;
  /** Expected change of site power: negative for sheds, positive for restores. */
  expectedDeltaW: number;

  reason: string;
  /**
   * Default "policy". An operator's sleep is not the agent's (the policy never
   * wakes it), and an operator's limit is not restored by the policy.
   */
  origin?: ActionOrigin;
}

type AlarmCode =
  | "ai-capped"
  | "over-budget"
  | "emergency"
  | "shed-held-min-on"
  | "power-unknown"
  | "ramp-limited"
  | "ramp-down-limited"
  | "ai-step";

export interface Alarm {
  code: AlarmCode;
  message: string;
}

export type PlanMode = "shed" | "restore" | "hold";

export interface Plan {
  actions: PlanAction[];
  budgetW: number;
  /** (B − shedMarginW) − P − expected power of unconfirmed restores. */
  headroomW: number;
  mode: PlanMode;
  alarms: Alarm[];
}

/** The part of the control config the policy reads. */
export type PolicyConfig = Pick<
  ControlConfig,
  | "shedMarginW"
  | "restoreMarginW"
  | "emergencyMarginW"
  | "minOnS"
  | "minOffS"
  | "rampUpWPerMin"
  | "restoreStaggerS"
  | "strategy"
> &
  Partial<Pick<ControlConfig, "rampDownWPerMin" | "track">>;

// ---------------------------------------------------------------- budget

/** A lease as asked for (MQTT `budget/set`, HTTP, an export): a cap for `ttlS` seconds. */
export interface LeaseRequest {
  watts: number;
  ttlS: number;
  reason: string;
}

export interface BudgetLease {
  watts: number;
  /** Epoch ms; the lease is ignored from this instant. */
  expiresAt: number;
  reason: string;
}

type BudgetSourceKind = "contract" | "lease" | "schedule" | "failsafe" | "economic" | "signal";

export interface BudgetSource {
  kind: BudgetSourceKind;
  watts: number;
  reason: string;
}

export interface Budget {
  budgetW: number;
  /** The reason of the lowest source. */
  reason: string;
  source: BudgetSourceKind;
  /** Every active source, in the order contract, lease, schedule…, failsafe. */
  sources: BudgetSource[];
}
