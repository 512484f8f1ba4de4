// The control loop (docs/design.md, The control loop): a
// fixed tick on one consistent snapshot → effective budget → plan() → for each
// action: ledger.begin (written BEFORE the command) → actuator (bounded
// fan-out, deadline, retries) → ledger.finish, with an event per action and
// per outcome. A failed device is backed off in the ledger, so the next plan
// picks the next candidate. A tick never throws.
//
// The actuator's `ok` is a confirmed effect (the drivers confirm a shed by the
// device's power falling against the reading before the command), not an ack.
import type { LocateReport } from "../../drivers/types.ts";
import type { Logger } from "../runtime/logger.ts";
import type { Ledger, LedgerAction } from "../store/ledger.ts";
import { AiSwingWatch } from "./ai-swing.ts";
import { type BudgetConfig, type BudgetInputs, effectiveBudget } from "./budget.ts";
import { efficiencyJPerTh, plan } from "./policy.ts";
import { type DeadlineNote, DeadlineWatch } from "./programs.ts";
import { Slots } from "./slots.ts";
import type { Budget, Plan, PlanAction, PlanSnapshot, PolicyConfig } from "./types.ts";

/** Called once the command is on the wire, before its confirmation. */
export type OnSent = () => Promise<void> | void;

export interface ActuatorResult {
  ok: boolean;
  reason: string;
  /** A locate: what the LED was asked, how that is known, who ends it (the agent when the firmware does not). */
  locate?: LocateReport | null;
}

/**
 * Sends one command and reports its confirmed outcome. `signal` aborts at the
 * deadline. `onSent`, where the driver can tell, is called once the command is
 * on the wire, before its confirmation: the loop then lets the next command go.
 */
export interface Actuator {
  sleep(minerId: string, signal?: AbortSignal, onSent?: OnSent): Promise<ActuatorResult>;
  wake(minerId: string, signal?: AbortSignal, onSent?: OnSent): Promise<ActuatorResult>;
  setPowerLimit(
    minerId: string,
    watts: number,
    signal?: AbortSignal,
    onSent?: OnSent,
  ): Promise<ActuatorResult>;
  restorePowerLimit(
    minerId: string,
    watts: number,
    signal?: AbortSignal,
    onSent?: OnSent,
  ): Promise<ActuatorResult>;
  capGpu(nodeId: string, gpuIndex: number, watts: number, signal?: AbortSignal): Promise<ActuatorResult>;
  uncapGpu(nodeId: string, gpuIndex: number, watts: number, signal?: AbortSignal): Promise<ActuatorResult>;
  /** A drain-tier node's configured drain command; `reason` carries what it printed (audited). */
  drainGpuNode(nodeId: string, signal?: AbortSignal): Promise<ActuatorResult>;
  /** Its configured resume command. */
  resumeGpuNode(nodeId: string, signal?: AbortSignal): Promise<ActuatorResult>;
  reboot(minerId: string, signal?: AbortSignal, onSent?: OnSent): Promise<ActuatorResult>;
  /** Blinks the miner's locate LED for `seconds` (> 0), or stops it (0). */
  locate(minerId: string, seconds: number, signal?: AbortSignal, onSent?: OnSent): Promise<ActuatorResult>;
}

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

export type LedgerPort = Pick<Ledger, "begin" | "beginMany" | "finish" | "view">;

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
}

/** Workload-manager commands run once: a second drain is not a retry of the first. */
const RUN_ONCE = new Set(["drainGpuNode", "resumeGpuNode"]);

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

const GPU_KINDS = new Set(["capGpu", "uncapGpu"]);

/**
 * P for the snapshot, per the fail-safe rules: the meter while fresh; else
 * the device reports + unmeteredW (an estimate); else unknown (the budget
 * falls to failsafeBudgetW). Also the matching budget inputs.
 */
export function sitePower(
  meterW: number | null,
  meterAgeS: number | null,
  deviceSumW: number | null,
  control: { meterStaleS: number; unmeteredW: number },
): Pick<PlanSnapshot, "powerW" | "powerSource"> & Required<Pick<BudgetInputs, "meterStale" | "hasEstimate">> {
  if (meterW !== null && meterAgeS !== null && meterAgeS <= control.meterStaleS) {
    return { powerW: meterW, powerSource: "meter", meterStale: false, hasEstimate: deviceSumW !== null };
  }
  if (deviceSumW !== null) {
    return {
      powerW: deviceSumW + control.unmeteredW,
      powerSource: "estimate",
      meterStale: true,
      hasEstimate: true,
    };
  }
  return { powerW: null, powerSource: null, meterStale: true, hasEstimate: false };
}

class Timeout extends Error {}

/** The longest a read-back waits for the other commands of its tick to go out. */
const READ_BACK_HOLD_MAX_MS = 2000;

function newResult(at: number, mode: ControlMode): TickResult {
  return { at, budget: null, plan: null, mode, sent: 0, done: 0, failed: 0, error: null };
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class ControlLoop {
  private modeValue: ControlMode = "auto";
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private inFlight: Promise<TickResult> | null = null;
  private again = false;
  private lastResult: TickResult | null = null;
  /** Ticks and operator actions run one at a time, each on a fresh snapshot. */
  private lock: Promise<unknown> = Promise.resolve();
  /** When the tick (or operator action) in progress started; null when idle. */
  private busySince: number | null = null;
  private lastTickEndAt: number | null = null;
  readonly stats: LoopStats = { ticks: 0, tickErrors: 0, actionsDone: 0, actionsFailed: 0 };

  /** ERS deadlines: a budget drop to be met in 10 / 30 min (control.programs). */
  private readonly deadlines: DeadlineWatch;
  /** AI steps the site meter has not shown yet (control.aiStepW); null = off. */
  private readonly aiSwing: AiSwingWatch | null;

  constructor(private readonly deps: ControlLoopDeps) {
    const stepW = deps.config.control.aiStepW;
    this.aiSwing = stepW != null ? new AiSwingWatch(stepW) : null;
    this.deadlines = new DeadlineWatch(
      (deps.config.control.programs ?? []).flatMap((p) =>
        p.kind === "ers-10"
          ? [{ name: p.name, deadlineS: 600 }]
          : p.kind === "ers-30"
            ? [{ name: p.name, deadlineS: 1800 }]
            : [],
      ),
    );
  }

  get mode(): ControlMode {
    return this.modeValue;
  }

  /** `hold`: plans (alarms, status) but applies nothing. */
  setMode(mode: ControlMode): void {
    this.modeValue = mode;
  }

  get last(): TickResult | null {
    return this.lastResult;
  }

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /** Stops the timer and waits for the tick in flight. */
  async stop(): Promise<void> {
    this.running = false;
    this.again = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.inFlight) await this.inFlight.catch(() => undefined);
  }

  /**
   * Whether a site power reading is over the last tick's shed line: such a reading ticks the
   * loop at once rather than waiting up to tickS (a cloud edge moves tens of kW a second).
   */
  overShedLine(powerW: number): boolean {
    const budgetW = this.lastResult?.budget?.budgetW;
    return budgetW != null && powerW > budgetW - this.deps.config.control.shedMarginW;
  }

  /** Ticks now (or right after the tick in flight). */
  wakeNow(): void {
    if (!this.running) return;
    if (this.inFlight) {
      this.again = true;
      return;
    }
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.runScheduled();
    }, delayMs);
  }

  /**
   * The one clock: the next beat is set a period from this one whether or not
   * the tick has ended by then. A tick still running at the next beat is
   * followed at once by another (as a wake during a tick is), and the beat
   * goes on meanwhile.
   */
  private runScheduled(): void {
    if (!this.running) return;
    this.schedule(this.deps.config.control.tickS * 1000);
    if (this.inFlight) {
      this.again = true;
      this.beat();
      return;
    }
    void this.tick().then(() => {
      if (!this.running) return;
      this.beat();
      if (this.again) {
        this.again = false;
        this.schedule(0);
      }
    });
  }

  private beat(): void {
    try {
      this.deps.onBeat?.();
    } catch (err) {
      this.deps.logger.warn({ err }, "beat listener threw");
    }
  }

  /** One tick. Never throws; overlapping calls share the tick in flight. */
  tick(): Promise<TickResult> {
    if (this.inFlight) return this.inFlight;
    const p = this.exclusive(() => this.runTick()).finally(() => {
      this.inFlight = null;
      this.lastTickEndAt = Date.now();
    });
    this.inFlight = p;
    return p;
  }

  /**
   * Liveness for /healthz and the watchdog: when the last tick ended, and
   * since when a tick or an operator action has been running (a shed to slow
   * miners may legitimately run for the action deadline × retries).
   */
  get progress(): { lastTickEndAt: number | null; busySince: number | null } {
    return { lastTickEndAt: this.lastTickEndAt, busySince: this.busySince };
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(async () => {
      this.busySince = Date.now();
      try {
        return await fn();
      } finally {
        this.busySince = null;
      }
    });
    this.lock = run.catch(() => undefined);
    return run;
  }

  /**
   * An operator's action (HTTP, MQTT, CLI), on the same path as the policy's:
   * after the tick in flight, written to the ledger before it is sent, sent
   * with the same deadline and retries, confirmed by read-back, with the same
   * events. It takes effect in hold mode too. Never throws.
   */
  manual(action: Omit<PlanAction, "origin">): Promise<ActuatorResult & { id: number | null }> {
    return this.exclusive(async () => {
      const a: PlanAction = { ...action, origin: "operator" };
      const result = newResult(this.now(), this.modeValue);
      const out = await this.applyOne(indexSnapshot(this.deps.getSnapshot()), a, result);
      // the policy sees the new state on its next tick
      this.wakeNow();
      return { ok: out.ok, reason: out.reason, id: out.id, locate: out.locate };
    });
  }

  private async runTick(): Promise<TickResult> {
    const { config, logger } = this.deps;
    const at = this.now();
    const result = newResult(at, this.modeValue);
    this.stats.ticks++;
    try {
      let snapshot = this.deps.getSnapshot();
      if (this.aiSwing) {
        const swingW = this.aiSwing.observe(
          snapshot.aiPowerW,
          snapshot.aiPowerAt,
          snapshot.powerSource === "meter" ? snapshot.powerAt : null,
          at,
        );
        const aiFall = this.aiSwing.fall();
        if (swingW !== 0 || aiFall) snapshot = { ...snapshot, aiSwingW: swingW, aiFall };
      }
      const inputs: BudgetInputs = { ...this.deps.budgetInputs(snapshot) };
      if (snapshot.powerSource !== "meter") {
        // fail-safe: no fresh meter → estimate, and failsafe budget without one
        inputs.meterStale = true;
        inputs.hasEstimate = snapshot.powerSource === "estimate" && snapshot.powerW !== null;
      }
      const budget = effectiveBudget(inputs, config, at);
      result.budget = budget;
      for (const note of this.deadlines.note(
        budget.budgetW,
        snapshot.powerW,
        config.control.shedMarginW,
        at,
      )) {
        this.deps.onEvent?.({ type: "program", at, note });
      }
      const p = plan(
        snapshot,
        {
          budgetW: budget.budgetW,
          deadlineAt: this.deadlines.deadlineAt,
          // what the budget forces without the economic cut, nor a grid signal under a program
          // deadline (ERS): rampDownWPerMin spreads only those (the deadline still met)
          hardBudgetW: Math.min(
            ...budget.sources
              .filter(
                (s) => s.kind !== "economic" && !(s.kind === "signal" && this.deadlines.deadlineAt !== null),
              )
              .map((s) => s.watts),
          ),
        },
        config.control,
        this.deps.ledger.view(at, snapshot.powerAt),
        at,
      );
      result.plan = p;
      // visible at once (status, telemetry): applying may take the action deadline
      this.lastResult = result;
      if (p.actions.length > 0 || p.alarms.length > 0) {
        logger.debug(
          {
            mode: p.mode,
            budgetW: p.budgetW,
            headroomW: p.headroomW,
            actions: p.actions.length,
            alarms: p.alarms,
          },
          "plan",
        );
      }
      if (this.modeValue === "hold" || p.actions.length === 0) return result;
      await this.apply(snapshot, p.actions, result);
    } catch (err) {
      this.stats.tickErrors++;
      result.error = errText(err);
      logger.error({ err }, "control tick failed");
    } finally {
      this.lastResult = result;
      try {
        this.deps.onTickEnd?.(result, this.now() - at);
      } catch (err) {
        logger.warn({ err }, "tick listener threw");
      }
    }
    return result;
  }

  private async apply(snapshot: PlanSnapshot, actions: PlanAction[], result: TickResult): Promise<void> {
    // one device's actions in order (a node's GPU caps), devices in parallel
    const byDevice = new Map<string, PlanAction[]>();
    for (const a of actions) {
      const list = byDevice.get(a.deviceId);
      if (list) list.push(a);
      else byDevice.set(a.deviceId, [a]);
    }
    // a slot to send, released once the command is on the wire (or the action ends), and a
    // larger bound on actions awaiting confirmation: an emergency shed reaches the whole
    // fleet at the pace commands can be sent, not at the pace miners confirm
    const concurrency = this.deps.concurrency ?? 64;
    const sending = new Slots(concurrency);
    const confirming = new Slots(concurrency * 4);
    const index = indexSnapshot(snapshot);
    // the first action of every device written in one commit before any is sent (a fleet-wide
    // shed pays one commit, not one per miner); a device's later actions begin one by one
    const groups = [...byDevice.values()];
    const firstIds = this.beginFirsts(index, groups);
    const device = async (group: PlanAction[], firstId: number | undefined) => {
      for (const [i, a] of group.entries()) {
        await confirming.acquire();
        await sending.acquire();
        let sent = false;
        // frees the send slot; the read-back that confirms waits until every command of this
        // tick is out (bounded: a slow miner must not hold every confirmation)
        const onSent = () => {
          if (!sent) {
            sent = true;
            sending.release();
          }
          return sending.idle(READ_BACK_HOLD_MAX_MS);
        };
        let ok = false;
        try {
          ({ ok } = await this.applyOne(index, a, result, onSent, i === 0 ? firstId : undefined));
        } finally {
          void onSent();
          confirming.release();
        }
        // the rest of this device waits for its back-off; a failed drain still lets its caps
        // go (the budget needs them; the workload was only not told)
        if (!ok && a.kind !== "drainGpuNode") break;
      }
    };
    await Promise.all(groups.map((g, i) => device(g, firstIds?.[i])));
  }

  /** Ids of each group's first action, written in one transaction; null → each begins alone. */
  private beginFirsts(index: SnapshotIndex, groups: PlanAction[][]): number[] | null {
    if (groups.length < 2) return null;
    const at = this.now();
    try {
      return this.deps.ledger.beginMany(groups.map((g) => this.ledgerAction(index, g[0]!, at)));
    } catch (err) {
      // nothing was written: applyOne tries again per action and reports each failure
      this.deps.logger.warn({ err }, "ledger batch write failed; writing actions one by one");
      return null;
    }
  }

  private ledgerAction(index: SnapshotIndex, a: PlanAction, at: number): LedgerAction {
    // a locate moves no power: nothing of the miner's draw or limit belongs in its row
    if (a.kind === "locate") return { ...a, at };
    if (GPU_KINDS.has(a.kind)) {
      const g = index.gpuNodes.get(a.deviceId)?.gpus.find((x) => x.index === a.gpuIndex);
      return {
        ...a,
        at,
        beforeW: g?.powerW ?? null,
        priorLimitW: g ? (g.powerLimitW ?? g.defaultLimitW ?? g.maxLimitW) : null,
      };
    }
    const m = index.miners.get(a.deviceId);
    return {
      ...a,
      at,
      beforeW: m?.powerW ?? null,
      efficiencyJPerTh: m ? efficiencyJPerTh(m.powerW, m.hashrateThs) : null,
      priorLimitW: m ? (m.powerLimitW ?? m.powerW) : null,
    };
  }

  /** begin → send (retries, deadline) → finish. Returns whether it was confirmed, and why. */
  private async applyOne(
    index: SnapshotIndex,
    a: PlanAction,
    result: TickResult,
    onSent?: OnSent,
    begunId?: number,
  ): Promise<{ ok: boolean; reason: string; id: number | null; locate?: LocateReport | null }> {
    const { ledger, logger } = this.deps;
    let id: number;
    const at = this.now();
    try {
      id = begunId ?? ledger.begin(this.ledgerAction(index, a, at));
    } catch (err) {
      // not written → not sent
      logger.error({ err, device: a.deviceId, kind: a.kind }, "ledger write failed; action not sent");
      result.failed++;
      this.stats.actionsFailed++;
      return { ok: false, reason: `ledger write failed: ${errText(err)}`, id: null };
    }
    result.sent++;
    this.emit({ type: "action", id, at, action: a });
    logger.info(
      { device: a.deviceId, kind: a.kind, valueW: a.valueW, reason: a.reason, id },
      "control action",
    );

    const attempts = RUN_ONCE.has(a.kind) ? 1 : Math.max(1, this.deps.config.control.retries);
    let outcome: ActuatorResult = { ok: false, reason: "not sent" };
    let n = 0;
    while (n < attempts) {
      n++;
      outcome = await this.send(a, onSent);
      if (outcome.ok) break;
      if (n < attempts) await this.sleepMs(this.deps.retryDelayMs ?? 500);
    }
    const end = this.now();
    try {
      ledger.finish(id, outcome.ok, outcome.reason, end);
    } catch (err) {
      logger.error({ err, id }, "ledger finish failed");
    }
    if (outcome.ok) {
      result.done++;
      this.stats.actionsDone++;
    } else {
      result.failed++;
      this.stats.actionsFailed++;
      logger.warn(
        { device: a.deviceId, kind: a.kind, reason: outcome.reason, attempts: n },
        "control action failed",
      );
    }
    this.emit({
      type: "outcome",
      id,
      at: end,
      action: a,
      ok: outcome.ok,
      reason: outcome.reason,
      attempts: n,
    });
    return { ok: outcome.ok, reason: outcome.reason, id, locate: outcome.locate };
  }

  private sleepMs(ms: number): Promise<void> {
    return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
  }

  private async send(a: PlanAction, onSent?: OnSent): Promise<ActuatorResult> {
    const act = this.deps.actuator;
    const ac = new AbortController();
    const timeoutMs = this.deps.actionTimeoutFor?.(a) ?? this.deps.actionTimeoutMs ?? 15_000;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        ac.abort();
        reject(new Timeout(`no confirmation within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    try {
      const call = (): Promise<ActuatorResult> => {
        const w = a.valueW ?? 0;
        switch (a.kind) {
          case "sleep":
            return act.sleep(a.deviceId, ac.signal, onSent);
          case "wake":
            return act.wake(a.deviceId, ac.signal, onSent);
          case "setPowerLimit":
            return act.setPowerLimit(a.deviceId, w, ac.signal, onSent);
          case "restorePowerLimit":
            return act.restorePowerLimit(a.deviceId, w, ac.signal, onSent);
          case "capGpu":
            return act.capGpu(a.deviceId, a.gpuIndex ?? 0, w, ac.signal);
          case "uncapGpu":
            return act.uncapGpu(a.deviceId, a.gpuIndex ?? 0, w, ac.signal);
          case "drainGpuNode":
            return act.drainGpuNode(a.deviceId, ac.signal);
          case "resumeGpuNode":
            return act.resumeGpuNode(a.deviceId, ac.signal);
          case "reboot":
            return act.reboot(a.deviceId, ac.signal, onSent);
          case "locate":
            return act.locate(a.deviceId, a.seconds ?? 0, ac.signal, onSent);
        }
      };
      return await Promise.race([call(), deadline]);
    } catch (err) {
      return { ok: false, reason: errText(err) };
    } finally {
      clearTimeout(timer);
    }
  }

  private emit(e: ControlEvent): void {
    try {
      this.deps.onEvent?.(e);
    } catch (err) {
      this.deps.logger.warn({ err }, "control event handler threw");
    }
  }
}

/** The snapshot's devices by id: a fleet-wide shed looks up 5,000 miners, once each. */
interface SnapshotIndex {
  miners: Map<string, PlanSnapshot["miners"][number]>;
  gpuNodes: Map<string, PlanSnapshot["gpuNodes"][number]>;
}

function indexSnapshot(snapshot: PlanSnapshot): SnapshotIndex {
  return {
    miners: new Map(snapshot.miners.map((m) => [m.id, m])),
    gpuNodes: new Map(snapshot.gpuNodes.map((n) => [n.id, n])),
  };
}
