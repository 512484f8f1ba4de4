// What a tick's actions say in the agent's log. A tick of a few actions logs
// each one as it begins and as it ends. A fleet-wide shed (thousands of
// actions) logs one line when it begins and one when its last action ended,
// its first failures one by one, and the rest at debug: a line per action
// there is 40,000 synchronous writes in a 20,000-miner shed, about all that
// journald lets a service log in 30 s (10,000 lines, scaled by free disk space);
// past that it drops the agent's other lines too.
// The ledger and the event log still hold every action.
import type { Logger } from "../runtime/logger.ts";
import type { ActuatorResult } from "./loop-types.ts";
import type { PlanAction } from "./types.ts";

/** A tick with more actions than this is logged as a whole, not action by action. */
export const LOG_EACH_MAX = 100;
/** A summarised tick's failures logged one by one at warn, at most. */
const FAILURES_EACH_MAX = 10;
/** Distinct failure reasons counted in the summary; the rest are counted as "other". */
const REASONS_MAX = 10;

export class ActionLog {
  private done = 0;
  private failed = 0;
  private readonly reasons = new Map<string, number>();

  private constructor(
    private readonly logger: Logger,
    /** Each action on its own line (a tick of at most LOG_EACH_MAX actions). */
    readonly each: boolean,
    private readonly total: number,
  ) {}

  /** The log of one tick's actions (or of one operator's action); a large tick says so at once. */
  static of(logger: Logger, actions: readonly PlanAction[]): ActionLog {
    const log = new ActionLog(logger, actions.length <= LOG_EACH_MAX, actions.length);
    if (!log.each) {
      logger.info(
        { actions: actions.length, kinds: countKinds(actions) },
        `control actions: ${actions.length} begin (each at debug level; the ledger holds every one)`,
      );
    }
    return log;
  }

  /** `a` is written in the ledger as `id` and goes out now. */
  begun(a: PlanAction, id: number): void {
    const level = this.each ? "info" : "debug";
    // a shed's 20,000 lines at debug are dropped by the level: build nothing for them
    if (!this.logger.isLevelEnabled(level)) return;
    this.logger[level](
      { device: a.deviceId, kind: a.kind, valueW: a.valueW, reason: a.reason, id },
      "control action",
    );
  }

  /** `a` ended with `outcome` after `attempts` sends. */
  ended(a: PlanAction, id: number, outcome: ActuatorResult, attempts: number): void {
    if (outcome.ok) this.done++;
    else {
      this.failed++;
      const reason =
        this.reasons.has(outcome.reason) || this.reasons.size < REASONS_MAX ? outcome.reason : "other";
      this.reasons.set(reason, (this.reasons.get(reason) ?? 0) + 1);
    }
    const level = this.endLevel(outcome.ok);
    if (!this.logger.isLevelEnabled(level)) return;
    const fields = { device: a.deviceId, kind: a.kind, valueW: a.valueW, id, attempts };
    if (outcome.ok) this.logger[level](fields, `${a.kind} ${a.deviceId} confirmed`);
    else
      this.logger[level](
        { ...fields, reason: outcome.reason },
        `${a.kind} ${a.deviceId} failed: ${outcome.reason}`,
      );
  }

  private endLevel(ok: boolean): "info" | "warn" | "debug" {
    if (this.each) return ok ? "info" : "warn";
    // a summarised tick: its first failures one by one, the rest counted in its closing line
    return !ok && this.failed <= FAILURES_EACH_MAX ? "warn" : "debug";
  }

  /** Every action of the tick has ended: a summarised tick's closing line. */
  close(): void {
    if (this.each) return;
    const notSent = this.total - this.done - this.failed;
    const fields = {
      actions: this.total,
      done: this.done,
      failed: this.failed,
      ...(notSent > 0 ? { notSent } : {}),
      ...(this.failed > 0 ? { reasons: Object.fromEntries(this.reasons) } : {}),
    };
    const msg = `control actions: ${this.done} confirmed, ${this.failed} failed of ${this.total}`;
    if (this.failed > 0) this.logger.warn(fields, msg);
    else this.logger.info(fields, msg);
  }
}

function countKinds(actions: readonly PlanAction[]): Record<string, number> {
  const kinds: Record<string, number> = {};
  for (const a of actions) kinds[a.kind] = (kinds[a.kind] ?? 0) + 1;
  return kinds;
}
