// Applying a plan's actions: ledger.begin (written BEFORE the command) →
// actuator, with a deadline per attempt and retries → ledger.finish, with an
// event per action and per outcome. Apart from loop.ts (the tick and its
// lifecycle) because the fan-out (commands first: fan-out.ts) and the deadline
// are one concern of their own, shared by the policy's actions and the operator's.
import type { LocateReport } from "../../drivers/types.ts";
import { DeadlineSlots } from "../devices/deadline-slots.ts";
import type { LedgerAction } from "../store/ledger.ts";
import { type ActionTurn, FanOut } from "./fan-out.ts";
import type {
  ActuatorCall,
  ActuatorResult,
  ControlEvent,
  ControlLoopDeps,
  LoopStats,
  OnSent,
  TickResult,
} from "./loop-types.ts";
import { efficiencyJPerTh } from "./policy.ts";
import type { PlanAction, PlanSnapshot } from "./types.ts";

/** Workload-manager commands run once: a second drain is not a retry of the first. */
const RUN_ONCE = new Set(["drainGpuNode", "resumeGpuNode"]);

const GPU_KINDS = new Set(["capGpu", "uncapGpu"]);

/** A miner command: the miner poller waits while these go out (not for a GPU cap or a drain that runs for minutes). */
const holdsPolls = (a: PlanAction) => !GPU_KINDS.has(a.kind) && !RUN_ONCE.has(a.kind);

/**
 * The longest a sent action's follow-up (its read-back, its logoff) waits for the other commands
 * of its tick to go out. Its confirmation has its own 30 s after that, inside the loop's deadline.
 */
const FOLLOW_UP_HOLD_MAX_MS = 10_000;

/**
 * Actions begun and not ended, at most. One waiting for its follow-up holds about 9 KiB of async
 * frames (measured: 44 MiB for 5,000): a whole 20,000-miner shed fits, for the seconds it lasts.
 */
const OPEN_ACTIONS_MAX = 20_000;

class Timeout extends Error {}

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
> & { now: () => number; stats: LoopStats };

/** One action's confirmed outcome, with the ledger id it was written under (null: not written, not sent). */
export type AppliedResult = ActuatorResult & { id: number | null; locate?: LocateReport | null };

export class ActionApplier {
  /**
   * Action deadlines by the slot (deadline-slots.ts), one set per timeout: the actions begun
   * within a slot share one controller and one timer, instead of one each for 20,000 in a shed.
   */
  private readonly deadlines = new Map<number, DeadlineSlots>();

  constructor(private readonly d: ApplierDeps) {}

  /** One action on its own (an operator's), on a fresh snapshot. */
  one(snapshot: PlanSnapshot, a: PlanAction, result: TickResult): Promise<AppliedResult> {
    return this.applyOne(indexSnapshot(snapshot), a, result);
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
    // the miner poller waits until this tick's miner commands are all on the wire
    let unsent = actions.filter(holdsPolls).length;
    const allSent = unsent > 0 ? this.d.commandFirst?.begin() : undefined;
    // the first action of every device written in one commit before any is sent (a fleet-wide
    // shed pays one commit, not one per miner); a device's later actions begin one by one
    const groups = [...byDevice.values()];
    const firstIds = this.beginFirsts(index, groups);
    const device = async (group: PlanAction[], firstId: number | undefined, firstTurn: ActionTurn) => {
      for (let i = 0; i < group.length; i++) {
        const a = group[i]!;
        const turn = i === 0 ? firstTurn : await fanOut.start();
        // out of the poller's way once: on the wire, or ended without going out
        let out = false;
        const countOut = () => {
          if (out) return;
          out = true;
          if (holdsPolls(a) && --unsent === 0) allSent?.();
        };
        const onSent = () => {
          countOut();
          return turn.sent();
        };
        let ok = false;
        try {
          ({ ok } = await this.applyOne(index, a, result, {
            onSent,
            begunId: i === 0 ? firstId : undefined,
          }));
        } finally {
          countOut();
          turn.end();
        }
        // the rest of this device waits for its back-off; a failed drain still lets its caps
        // go (the budget needs them; the workload was only not told)
        if (!ok && a.kind !== "drainGpuNode") break;
      }
    };
    try {
      // each device starts once its first action has a place: a device waiting for one is an
      // entry in `groups`, not a suspended call (20,000 of those were 20 MiB at a shed's start)
      const running: Promise<void>[] = [];
      for (let i = 0; i < groups.length; i++) {
        const turn = await fanOut.start();
        running.push(device(groups[i]!, firstIds?.[i], turn));
      }
      await Promise.all(running);
    } finally {
      // a device's later actions skipped after a failure are never sent
      allSent?.();
    }
  }

  /** Ids of each group's first action, written in one transaction; null → each begins alone. */
  private beginFirsts(index: SnapshotIndex, groups: PlanAction[][]): number[] | null {
    if (groups.length < 2) return null;
    const at = this.d.now();
    try {
      return this.d.ledger.beginMany(groups.map((g) => this.ledgerAction(index, g[0]!, at)));
    } catch (err) {
      // nothing was written: applyOne tries again per action and reports each failure
      this.d.logger.warn({ err }, "ledger batch write failed; writing actions one by one");
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
    { onSent, begunId }: { onSent?: OnSent; begunId?: number } = {},
  ): Promise<{ ok: boolean; reason: string; id: number | null; locate?: LocateReport | null }> {
    const { ledger, logger } = this.d;
    let id: number;
    const at = this.d.now();
    try {
      id = begunId ?? ledger.begin(this.ledgerAction(index, a, at));
    } catch (err) {
      // not written → not sent
      logger.error({ err, device: a.deviceId, kind: a.kind }, "ledger write failed; action not sent");
      result.failed++;
      this.d.stats.actionsFailed++;
      return { ok: false, reason: `ledger write failed: ${errText(err)}`, id: null };
    }
    result.sent++;
    this.emit({ type: "action", id, at, action: a });
    logger.info(
      { device: a.deviceId, kind: a.kind, valueW: a.valueW, reason: a.reason, id },
      "control action",
    );

    const attempts = RUN_ONCE.has(a.kind) ? 1 : Math.max(1, this.d.config.control.retries);
    let outcome: ActuatorResult = { ok: false, reason: "not sent" };
    let n = 0;
    while (n < attempts) {
      n++;
      outcome = await this.send(a, onSent);
      if (outcome.ok) break;
      if (n < attempts) await this.sleepMs(this.d.retryDelayMs ?? 500);
    }
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
    const timeoutMs = this.d.actionTimeoutFor?.(a) ?? this.d.actionTimeoutMs ?? 15_000;
    let slots = this.deadlines.get(timeoutMs);
    if (!slots) {
      slots = new DeadlineSlots(timeoutMs, Date.now, { keepCurrent: false });
      this.deadlines.set(timeoutMs, slots);
    }
    // aborted, and the action ended, no sooner than timeoutMs from now (at most a slot later)
    const slot = slots.join();
    let end: (() => void) | undefined;
    const deadline = new Promise<never>((_, reject) => {
      end = () => reject(new Timeout(`no confirmation within ${timeoutMs} ms`));
      slot.ends.add(end);
    });
    try {
      return await Promise.race([this.call(a, { signal: slot.signal, onSent }), deadline]);
    } catch (err) {
      return { ok: false, reason: errText(err) };
    } finally {
      if (end) slot.ends.delete(end);
      slots.left(slot);
    }
  }

  private call(a: PlanAction, how: ActuatorCall): Promise<ActuatorResult> {
    const act = this.d.actuator;
    const w = a.valueW ?? 0;
    switch (a.kind) {
      case "sleep":
        return act.sleep(a.deviceId, how);
      case "wake":
        return act.wake(a.deviceId, how);
      case "setPowerLimit":
        return act.setPowerLimit(a.deviceId, w, how);
      case "restorePowerLimit":
        return act.restorePowerLimit(a.deviceId, w, how);
      case "capGpu":
        return act.capGpu(a.deviceId, a.gpuIndex ?? 0, w, how);
      case "uncapGpu":
        return act.uncapGpu(a.deviceId, a.gpuIndex ?? 0, w, how);
      case "drainGpuNode":
        return act.drainGpuNode(a.deviceId, how);
      case "resumeGpuNode":
        return act.resumeGpuNode(a.deviceId, how);
      case "reboot":
        return act.reboot(a.deviceId, how);
      case "locate":
        return act.locate(a.deviceId, a.seconds ?? 0, how);
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
