// The control loop (docs/design.md, The control loop): a
// fixed tick on one consistent snapshot → effective budget → plan() → for each
// action: ledger.begin (written BEFORE the command) → actuator (bounded
// fan-out, deadline, retries) → ledger.finish, with an event per action and
// per outcome. A failed device is backed off in the ledger, so the next plan
// picks the next candidate. A tick never throws.
//
// The actuator's `ok` is a confirmed effect (the drivers confirm a shed by the
// device's power falling against the reading before the command), not an ack.
import { AiSwingWatch } from "./ai-swing.ts";
import { ActionApplier, errText } from "./apply.ts";
import { type BudgetInputs, effectiveBudget } from "./budget.ts";
import type { ActuatorResult, ControlLoopDeps, ControlMode, LoopStats, TickResult } from "./loop-types.ts";
import { plan } from "./policy.ts";
import { DeadlineWatch } from "./programs.ts";
import type { PlanAction } from "./types.ts";

export type {
  Actuator,
  ActuatorResult,
  ControlEvent,
  ControlLoopDeps,
  ControlMode,
  LoopConfig,
  TickResult,
} from "./loop-types.ts";

function newResult(at: number, mode: ControlMode): TickResult {
  return { at, budget: null, plan: null, mode, sent: 0, done: 0, failed: 0, error: null };
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

  private readonly applier: ActionApplier;

  constructor(private readonly deps: ControlLoopDeps) {
    this.applier = new ActionApplier({ ...deps, now: () => this.now(), stats: this.stats });
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
      const out = await this.applier.one(this.deps.getSnapshot(), a, result);
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
          {
            aiW: snapshot.aiPowerW,
            aiAt: snapshot.aiPowerAt,
            powerAt: snapshot.powerSource === "meter" ? snapshot.powerAt : null,
          },
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
      const tick = {
        budgetW: budget.budgetW,
        powerW: snapshot.powerW,
        shedMarginW: config.control.shedMarginW,
      };
      for (const note of this.deadlines.note(tick, at)) {
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
      await this.applier.apply(snapshot, p.actions, result);
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
}
