// Applying a plan's actions: ledger.begin (written BEFORE the command) →
// actuator, with a deadline per attempt and retries → ledger.finish, with an
// event per action and per outcome. Apart from loop.ts (the tick and its
// lifecycle) because the fan-out (commands first: fan-out.ts) and the deadline
// are one concern of their own, shared by the policy's actions and the operator's.
import type { LocateReport } from "../../drivers/types.ts";
import { ActionDeadlines } from "./action-deadlines.ts";
import { ActionLog } from "./action-log.ts";
import {
  FirstActionRows,
  GPU_KINDS,
  indexSnapshot,
  ledgerAction,
  type SnapshotIndex,
} from "./action-rows.ts";
import { callActuator } from "./actuator-call.ts";
import { type ActionTurn, FanOut } from "./fan-out.ts";
import {
  type ActuatorResult,
  type ControlEvent,
  type ControlLoopDeps,
  isMinerStartKind,
  type LoopStats,
  type MinerStartKind,
  type OnSent,
  type StartedAction,
  type TickResult,
} from "./loop-types.ts";
import type { PlanAction, PlanSnapshot } from "./types.ts";

/** Workload-manager commands run once: a second drain is not a retry of the first. */
const RUN_ONCE = new Set(["drainGpuNode", "resumeGpuNode"]);

/** A miner command: the miner poller waits while these go out (not for a GPU cap or a drain that runs for minutes). */
const holdsPolls = (a: PlanAction) => !GPU_KINDS.has(a.kind) && !RUN_ONCE.has(a.kind);

/**
 * The longest a sent action's follow-up (its read-back, its logoff) waits for the other commands
 * of its tick to go out. Its confirmation has its own 30 s after that, inside the loop's deadline.
 */
const FOLLOW_UP_HOLD_MAX_MS = 10_000;

/**
 * Actions begun and not ended, at most. A miner command waiting for its follow-up holds about
 * 3 KiB in two phases (a heap snapshot halfway through a 5,000-miner shed), one sent the
 * one-phase way about 9 KiB of async frames: a whole 20,000-miner shed fits, for the seconds
 * it lasts.
 */
const OPEN_ACTIONS_MAX = 20_000;

export function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** What the applier needs of the loop: its dependencies, its clock and its counters. */
export type ApplierDeps = Pick<
  ControlLoopDeps,
  | "actuator"
  | "ledger"
  | "config"
  | "logger"
  | "onEvent"
  | "concurrency"
  | "actionTimeoutMs"
  | "retryDelayMs"
  | "actionTimeoutFor"
  | "commandFirst"
  | "heapBurst"
> & { now: () => number; stats: LoopStats };

/** One action's confirmed outcome, with the ledger id it was written under (null: not written, not sent). */
export type AppliedResult = ActuatorResult & { id: number | null; locate?: LocateReport | null };

export class ActionApplier {
  private readonly deadlines: ActionDeadlines;

  constructor(private readonly d: ApplierDeps) {
    this.deadlines = new ActionDeadlines((a) => d.actionTimeoutFor?.(a) ?? d.actionTimeoutMs ?? 15_000);
  }

  /** One action on its own (an operator's), on a fresh snapshot. */
  one(snapshot: PlanSnapshot, a: PlanAction, result: TickResult): Promise<AppliedResult> {
    return this.applyOne(indexSnapshot(snapshot), a, result, ActionLog.of(this.d.logger, [a]));
  }

  async apply(snapshot: PlanSnapshot, actions: PlanAction[], result: TickResult): Promise<void> {
    // one device's actions in order (a node's GPU caps), devices in parallel
    const byDevice = new Map<string, PlanAction[]>();
    for (const a of actions) {
      const list = byDevice.get(a.deviceId);
      if (list) list.push(a);
      else byDevice.set(a.deviceId, [a]);
    }
    // commands first (fan-out.ts): an emergency shed reaches the whole fleet at the pace
    // commands can be sent, before the read-backs that confirm them take the wire
    const concurrency = this.d.concurrency ?? 64;
    const fanOut = new FanOut({
      concurrency,
      openMax: OPEN_ACTIONS_MAX,
      holdMaxMs: FOLLOW_UP_HOLD_MAX_MS,
    });
    const index = indexSnapshot(snapshot);
    const log = ActionLog.of(this.d.logger, actions);
    // the miner poller waits until this tick's miner commands are all on the wire
    let unsent = actions.filter(holdsPolls).length;
    const pollsWait = unsent > 0 ? this.d.commandFirst?.begin() : undefined;
    const burstOver = unsent > 0 ? this.d.heapBurst?.begin(unsent) : undefined;
    const allSent = () => {
      pollsWait?.();
      burstOver?.();
    };
    // the first action of every device written a chunk of devices per commit, each before its
    // commands go out (action-rows.ts); a device's later actions begin one by one
    const groups = [...byDevice.values()];
    const firsts = new FirstActionRows(groups, (chunk) => this.beginFirsts(index, chunk));
    // what an action tells the fan-out and the poller: its command is out, or it is over
    const track = (a: PlanAction, turn: ActionTurn) => {
      // out of the poller's way once: on the wire, or ended without going out
      let out = false;
      const countOut = () => {
        if (out) return;
        out = true;
        if (holdsPolls(a) && --unsent === 0) allSent();
      };
      return {
        onSent: () => {
          countOut();
          return turn.sent();
        },
        end: () => {
          countOut();
          turn.end();
        },
      };
    };
    const inOrder = async (group: PlanAction[], firstId: number | undefined, firstTurn: ActionTurn) => {
      for (let i = 0; i < group.length; i++) {
        const a = group[i]!;
        const { onSent, end } = track(a, i === 0 ? firstTurn : await fanOut.start());
        let ok = false;
        try {
          ({ ok } = await this.applyOne(index, a, result, log, {
            onSent,
            begunId: i === 0 ? firstId : undefined,
          }));
        } finally {
          end();
        }
        // the rest of this device waits for its back-off; a failed drain still lets its caps
        // go (the budget needs them; the workload was only not told)
        if (!ok && a.kind !== "drainGpuNode") break;
      }
    };
    // devices still running; the tick's apply ends when none is
    let running = 0;
    let dispatched = false;
    let allOver!: () => void;
    const over = new Promise<void>((r) => {
      allOver = r;
    });
    const deviceOver = () => {
      if (--running === 0 && dispatched) allOver();
    };
    // a device that threw: the others run to their end, then apply() throws it
    let failure = null as { err: unknown } | null;
    const deviceThrew = (err: unknown) => {
      failure ??= { err };
      deviceOver();
    };
    try {
      // each device starts once its first action has a place: a device waiting for one is an
      // entry in `groups`, not a suspended call (20,000 of those were 20 MiB at a shed's start)
      for (let i = 0; i < groups.length; i++) {
        const turn = await fanOut.start();
        const group = groups[i]!;
        running++;
        if (group.length === 1 && this.startsInTwoPhases(group[0]!)) {
          const first = group[0]!;
          this.applyStarted(index, first, result, log, track(first, turn), firsts.idOf(i), deviceOver);
        } else {
          inOrder(group, firsts.idOf(i), turn).then(deviceOver, deviceThrew);
        }
      }
      dispatched = true;
      if (running > 0) await over;
      if (failure) throw failure.err;
    } finally {
      // a device's later actions skipped after a failure are never sent
      allSent();
      log.close();
    }
  }

  /** Ids of each group's first action, written in one transaction; null → each begins alone. */
  private beginFirsts(index: SnapshotIndex, groups: PlanAction[][]): number[] | null {
    const at = this.d.now();
    try {
      return this.d.ledger.beginMany(groups.map((g) => ledgerAction(index, g[0]!, at)));
    } catch (err) {
      // nothing was written: applyOne tries again per action and reports each failure
      this.d.logger.warn({ err }, "ledger batch write failed; writing actions one by one");
      return null;
    }
  }

  /** begin → send (retries, deadline) → finish. Returns whether it was confirmed, and why. */
  private async applyOne(
    index: SnapshotIndex,
    a: PlanAction,
    result: TickResult,
    log: ActionLog,
    { onSent, begunId }: { onSent?: OnSent; begunId?: number } = {},
  ): Promise<{ ok: boolean; reason: string; id: number | null; locate?: LocateReport | null }> {
    const id = this.beginAction(index, a, result, log, begunId);
    if (typeof id !== "number") return id;
    const { outcome, n } = await this.retryRest(a, await this.send(a, onSent), onSent);
    return this.finishAction(id, a, outcome, n, result, log);
  }

  /** Miner commands go in two phases where the actuator can (Actuator.startMiner). */
  private startsInTwoPhases(a: PlanAction): boolean {
    return this.d.actuator.startMiner !== undefined && isMinerStartKind(a.kind);
  }

  /**
   * applyOne for a miner command in two phases, told back through `over` (it never throws).
   * From the command on the wire to its follow-up, the action is held as a few callbacks, not
   * as suspended calls: those held 5–9 KiB each, and a 20,000-miner shed parks most of its
   * actions for seconds (promoted out of the young generation, then collected by full GCs).
   */
  private applyStarted(
    index: SnapshotIndex,
    a: PlanAction,
    result: TickResult,
    log: ActionLog,
    turn: { onSent: () => Promise<void>; end: () => void },
    begunId: number | undefined,
    over: () => void,
  ): void {
    const id = this.beginAction(index, a, result, log, begunId);
    if (typeof id !== "number") {
      turn.end();
      over();
      return;
    }
    let ended = false;
    const end = (outcome: ActuatorResult) => {
      if (ended) return;
      ended = true;
      deadline.done();
      const report = ({ outcome, n }: { outcome: ActuatorResult; n: number }) => {
        this.finishAction(id, a, outcome, n, result, log);
        turn.end();
        over();
      };
      if (outcome.ok || this.attemptsFor(a) === 1) report({ outcome, n: 1 });
      else
        this.retryRest(a, outcome, turn.onSent).then(report, (err: unknown) =>
          report({ outcome: { ok: false, reason: errText(err) }, n: 1 }),
        );
    };
    const failed = (err: unknown) => end({ ok: false, reason: errText(err) });
    // the deadline ends the action wherever it is; its signal aborts what is in flight
    const deadline = this.deadlines.start(a, failed);
    let started: Promise<StartedAction>;
    try {
      started = this.d.actuator.startMiner!(a.kind as MinerStartKind, a.deviceId, a.valueW ?? 0, {
        signal: deadline.signal,
      });
    } catch (err) {
      failed(err);
      return;
    }
    started.then((s) => {
      if (ended) return; // over (the deadline): the driver lets its follow-up go on the abort
      if (!s.confirm) return end(s.result);
      const { confirm } = s;
      // parked until the tick's commands are out: this callback is all the action holds
      turn
        .onSent()
        .then(() => (ended ? undefined : confirm().then(end, failed)))
        .catch(failed);
    }, failed);
  }

  private attemptsFor(a: PlanAction): number {
    return RUN_ONCE.has(a.kind) ? 1 : Math.max(1, this.d.config.control.retries);
  }

  /** The attempts after the first, while it is not confirmed (control.retries, with a pause between). */
  private async retryRest(
    a: PlanAction,
    first: ActuatorResult,
    onSent: OnSent | undefined,
  ): Promise<{ outcome: ActuatorResult; n: number }> {
    const attempts = this.attemptsFor(a);
    let outcome = first;
    let n = 1;
    while (!outcome.ok && n < attempts) {
      await this.sleepMs(this.d.retryDelayMs ?? 500);
      n++;
      outcome = await this.send(a, onSent);
    }
    return { outcome, n };
  }

  /** Writes the action before it is sent; its ledger id, or the outcome when it cannot be written. */
  private beginAction(
    index: SnapshotIndex,
    a: PlanAction,
    result: TickResult,
    log: ActionLog,
    begunId: number | undefined,
  ): number | { ok: false; reason: string; id: null } {
    const { ledger, logger } = this.d;
    let id: number;
    const at = this.d.now();
    try {
      id = begunId ?? ledger.begin(ledgerAction(index, a, at));
    } catch (err) {
      // not written → not sent
      logger.error({ err, device: a.deviceId, kind: a.kind }, "ledger write failed; action not sent");
      result.failed++;
      this.d.stats.actionsFailed++;
      return { ok: false, reason: `ledger write failed: ${errText(err)}`, id: null };
    }
    result.sent++;
    this.emit({ type: "action", id, at, action: a });
    log.begun(a, id);
    return id;
  }

  /** Writes the outcome, counts it and reports it. */
  private finishAction(
    id: number,
    a: PlanAction,
    outcome: ActuatorResult,
    n: number,
    result: TickResult,
    log: ActionLog,
  ): { ok: boolean; reason: string; id: number; locate?: LocateReport | null } {
    const { ledger, logger } = this.d;
    const end = this.d.now();
    try {
      ledger.finish(id, outcome, end);
    } catch (err) {
      logger.error({ err, id }, "ledger finish failed");
    }
    if (outcome.ok) {
      result.done++;
      this.d.stats.actionsDone++;
    } else {
      result.failed++;
      this.d.stats.actionsFailed++;
    }
    log.ended(a, id, outcome, n);
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
    const deadline = this.deadlines.start(a);
    try {
      return await Promise.race([
        callActuator(this.d.actuator, a, { signal: deadline.signal, onSent }),
        deadline.expired,
      ]);
    } catch (err) {
      return { ok: false, reason: errText(err) };
    } finally {
      deadline.done();
    }
  }

  private emit(e: ControlEvent): void {
    try {
      this.d.onEvent?.(e);
    } catch (err) {
      this.d.logger.warn({ err }, "control event handler threw");
    }
  }
}
