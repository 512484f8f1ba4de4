// The control loop's contracts: the actuator it drives, the dependencies it is
// built with, and what a tick reports. Apart from loop.ts so that the site,
// HTTP, MQTT and exports can name a TickResult or ControlMode without the
// loop's scheduling and applying code.
import type { LocateReport } from "../../drivers/types.ts";
import type { Logger } from "../runtime/logger.ts";
import type { Ledger } from "../store/ledger.ts";
import type { BudgetConfig, BudgetInputs } from "./budget.ts";
import type { DeadlineNote } from "./programs.ts";
import type { Budget, Plan, PlanAction, PlanSnapshot, PolicyConfig } from "./types.ts";

/** Called once the command is on the wire, before its confirmation. */
export type OnSent = () => Promise<void> | void;

export interface ActuatorResult {
  ok: boolean;
  reason: string;
  /** A locate: what the LED was asked, how that is known, who ends it (the agent when the firmware does not). */
  locate?: LocateReport | null;
}

/** How one command is sent: `signal` aborts at the deadline; `onSent` as below. */
export interface ActuatorCall {
  signal?: AbortSignal;
  onSent?: OnSent;
}

/**
 * Sends one command and reports its confirmed outcome. `signal` aborts at the
 * deadline. `onSent`, where the driver can tell, is called once the command is
 * on the wire, before its confirmation: the loop then lets the next command go.
 */
export interface Actuator {
  sleep(minerId: string, call?: ActuatorCall): Promise<ActuatorResult>;
  wake(minerId: string, call?: ActuatorCall): Promise<ActuatorResult>;
  setPowerLimit(minerId: string, watts: number, call?: ActuatorCall): Promise<ActuatorResult>;
  restorePowerLimit(minerId: string, watts: number, call?: ActuatorCall): Promise<ActuatorResult>;
  /** GPU caps are confirmed by reading back, not on the wire: only `signal` applies. */
  capGpu(nodeId: string, gpuIndex: number, watts: number, call?: ActuatorCall): Promise<ActuatorResult>;
  uncapGpu(nodeId: string, gpuIndex: number, watts: number, call?: ActuatorCall): Promise<ActuatorResult>;
  /** A drain-tier node's configured drain command; `reason` carries what it printed (audited). */
  drainGpuNode(nodeId: string, call?: ActuatorCall): Promise<ActuatorResult>;
  /** Its configured resume command. */
  resumeGpuNode(nodeId: string, call?: ActuatorCall): Promise<ActuatorResult>;
  reboot(minerId: string, call?: ActuatorCall): Promise<ActuatorResult>;
  /** Blinks the miner's locate LED for `seconds` (> 0), or stops it (0). */
  locate(minerId: string, seconds: number, call?: ActuatorCall): Promise<ActuatorResult>;
  /**
   * A miner command in two phases, where the actuator can (the real drivers): resolves once
   * the command is out, with `confirm` to call for the confirmed outcome, or with the outcome
   * at once (refused, not sent). The loop holds a function per sent command, not a call.
   */
  startMiner?(
    kind: MinerStartKind,
    minerId: string,
    watts: number,
    call: { signal: AbortSignal },
  ): Promise<StartedAction>;
}

/** The plan's miner actions that can go in two phases (Actuator.startMiner); a locate runs whole. */
export const MINER_START_KINDS = ["sleep", "wake", "setPowerLimit", "restorePowerLimit", "reboot"] as const;
export type MinerStartKind = (typeof MINER_START_KINDS)[number];

export function isMinerStartKind(kind: string): kind is MinerStartKind {
  return (MINER_START_KINDS as readonly string[]).includes(kind);
}

export type StartedAction =
  | { readonly result: ActuatorResult; readonly confirm?: undefined }
  | { readonly result?: undefined; confirm(): Promise<ActuatorResult> };

export type ControlMode = "auto" | "hold";

export type ControlEvent =
  | { type: "action"; id: number; at: number; action: PlanAction }
  | { type: "program"; at: number; note: DeadlineNote }
  | {
      type: "outcome";
      id: number;
      at: number;
      action: PlanAction;
      ok: boolean;
      reason: string;
      attempts: number;
    };

export interface LoopConfig {
  site: BudgetConfig["site"];
  control: BudgetConfig["control"] &
    PolicyConfig & {
      tickS: number;
      retries: number;
      meterStaleS?: number;
      unmeteredW?: number;
      aiStepW?: number | null;
    };
}

type LedgerPort = Pick<Ledger, "begin" | "beginMany" | "finish" | "view">;

export interface ControlLoopDeps {
  /** One consistent snapshot (P is the meter, or the estimate when it is stale). */
  getSnapshot(): PlanSnapshot;
  /** Budget inputs for this snapshot: the economic cut must judge the same readings the policy plans on. */
  budgetInputs(snapshot: PlanSnapshot): BudgetInputs;
  actuator: Actuator;
  ledger: LedgerPort;
  config: LoopConfig;
  logger: Logger;
  now?: () => number;
  onEvent?: (e: ControlEvent) => void;
  /** After every tick, with its wall time (metrics). Must not throw. */
  onTickEnd?: (r: TickResult, durationMs: number) => void;
  /**
   * The site's clock (health, history, publishing): after every scheduled
   * tick, and once a period while a tick is still applying, so a long shed
   * does not silence the site. Errors are logged, never thrown.
   */
  onBeat?: () => void;
  /**
   * Commands being put on the wire at once (devices in parallel; one device's
   * actions in order). Default 64. Actions awaiting their confirmation are
   * bounded separately, at four times this.
   */
  concurrency?: number;
  /** Deadline of one attempt, ms. Default 15 000. */
  actionTimeoutMs?: number;
  /** Pause between attempts, ms. Default 500. */
  retryDelayMs?: number;
  /** A longer deadline for one action (a drain command's own timeout); null = actionTimeoutMs. */
  actionTimeoutFor?: (a: PlanAction) => number | null;
  /**
   * Told when a tick's miner commands start going out, and when they all are: the miner
   * poller waits meanwhile (agent/devices/command-first.ts). Absent: polls never wait.
   */
  commandFirst?: { begin(): () => void };
  /** Told when a tick's miner commands start going out (how many), and when they all are (runtime/heap.ts HeapBurst). */
  heapBurst?: { begin(commands: number): () => void };
}

export interface TickResult {
  at: number;
  budget: Budget | null;
  plan: Plan | null;
  mode: ControlMode;
  sent: number;
  done: number;
  failed: number;
  error: string | null;
}

export interface LoopStats {
  ticks: number;
  tickErrors: number;
  actionsDone: number;
  actionsFailed: number;
}
