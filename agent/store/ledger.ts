// The curtailment ledger (docs/design.md, The control loop):
// every action is written here, pending, BEFORE its command is sent, and
// finished (done/failed) once the confirmed outcome is known. Per-device state
// (what the agent slept, limited, capped; failure back-off) lives beside it, so
// that after a restart sleeping miners stay asleep and come back only through
// the policy's ramp. SQLite through better-sqlite3 (synchronous: a `begin()`
// has committed when it returns), WAL, synchronous=NORMAL, prepared statements.
// A `finish()` is committed with the others of its turn of the event loop: a
// fleet-wide shed's outcomes cost one commit, not one per miner, and a crash
// before that commit leaves the row pending, which the next start recovers as
// it recovers any action interrupted between command and outcome.
import type Database from "better-sqlite3";
import type { ActionKind, ActionOrigin, LedgerView, PlanAction } from "../control/types.ts";
import { openDb } from "./db.ts";
import { applyDeviceEffect } from "./ledger-effects.ts";
import {
  type ActionRow,
  type ActionState,
  emptyDevice,
  INTERRUPTED_REASON,
  type LedgerStatements,
  NEUTRAL_KINDS,
  prepareLedger,
  RESTORE_KINDS,
} from "./ledger-schema.ts";
import { ledgerView } from "./ledger-view.ts";
import { TurnQueue } from "./turn-queue.ts";

export { INTERRUPTED_REASON } from "./ledger-schema.ts";

/** An action as written before it is sent: the plan's action plus what the device read before. */
export interface LedgerAction extends PlanAction {
  /** Epoch ms the action is issued. */
  at: number;
  /** The device's draw before the command (a slept miner's expected wake power). */
  beforeW?: number | null;
  /** J/TH before the command (sleep: wakes go best first). */
  efficiencyJPerTh?: number | null;
  /**
   * setPowerLimit / capGpu: the limit before the command, restored later. Kept
   * from the first lowering only.
   */
  priorLimitW?: number | null;
}

/** One action row, as an event. */
export interface LedgerEvent {
  id: number;
  deviceId: string;
  kind: ActionKind;
  gpuIndex: number | null;
  valueW: number | null;
  expectedDeltaW: number;
  reason: string;
  origin: ActionOrigin;
  state: ActionState;
  createdAt: number;
  finishedAt: number | null;
  outcomeReason: string | null;
}

export interface LedgerOptions {
  /** Back-off of a device after its first failure; doubled per further failure. Default 30 s. */
  failBackoffMs?: number;
  /** Longest back-off. Default 15 min. */
  maxFailBackoffMs?: number;
  /**
   * Restore history kept in the view: at least max(60 s, restoreStaggerS).
   * Default 60 s; the loop passes its own.
   */
  restoreHistoryMs?: number;
  /**
   * A done action still counts as pending in the view this long after it was
   * confirmed, so that a meter lagging the device does not cause a second shed
   * (or an over-restore). Default 0.
   */
  settleMs?: number;
  /** A batch of finishes that could not be committed (dropped: its rows stay pending), or an unknown id. */
  onFlushError?: (err: unknown) => void;
}

/** A finish waiting for its turn's commit. */
interface QueuedFinish {
  id: number;
  ok: boolean;
  reason: string;
  at: number;
}

function finite(v: number | null | undefined): number | null {
  return v != null && Number.isFinite(v) ? v : null;
}

function toEvent(r: ActionRow): LedgerEvent {
  return {
    id: r.id,
    deviceId: r.device_id,
    kind: r.kind,
    gpuIndex: r.gpu_index,
    valueW: r.value_w,
    expectedDeltaW: r.expected_delta_w,
    reason: r.reason,
    origin: r.origin,
    state: r.state,
    createdAt: r.created_at,
    finishedAt: r.finished_at,
    outcomeReason: r.outcome_reason,
  };
}

export class Ledger {
  private db: Database.Database | null = null;
  private stmts: LedgerStatements | null = null;
  private readonly failBackoffMs: number;
  private readonly maxFailBackoffMs: number;
  private readonly restoreHistoryMs: number;
  private readonly settleMs: number;
  private readonly onFlushError: (err: unknown) => void;
  /** Finishes not committed yet, in order; committed at the end of the turn or before any read. */
  private readonly finishing = new TurnQueue<QueuedFinish>((batch) => this.commitFinishes(batch));

  constructor(
    private readonly path: string,
    options: LedgerOptions = {},
  ) {
    this.failBackoffMs = options.failBackoffMs ?? 30_000;
    this.maxFailBackoffMs = options.maxFailBackoffMs ?? 15 * 60_000;
    this.restoreHistoryMs = Math.max(60_000, options.restoreHistoryMs ?? 60_000);
    this.settleMs = options.settleMs ?? 0;
    this.onFlushError = options.onFlushError ?? (() => {});
  }

  get isOpen(): boolean {
    return this.db !== null;
  }

  /**
   * Opens (creating) the database. Rows left pending by a crash are marked
   * failed ("interrupted"); an interrupted shed is recorded as if it had taken
   * effect (the command may have reached the device), so the device is never
   * stranded: the policy restores it only if the snapshot shows it shed.
   */
  open(now: number = Date.now()): void {
    if (this.db) return;
    const db = openDb(this.path);
    try {
      this.stmts = prepareLedger(db);
      this.db = db;
      this.recover(now);
    } catch (err) {
      this.db = null;
      this.stmts = null;
      db.close();
      throw err;
    }
  }

  close(): void {
    if (!this.db) return;
    this.flush();
    this.db.close();
    this.db = null;
    this.stmts = null;
  }

  private s() {
    if (!this.stmts) throw new Error("ledger is not open");
    return this.stmts;
  }

  private recover(now: number): void {
    const s = this.s();
    this.db!.transaction(() => {
      for (const row of s.pendingAll.all()) {
        s.finish.run({ id: row.id, state: "failed", finished_at: now, outcome_reason: INTERRUPTED_REASON });
        // a shed may have reached the device: record it so the device is restored later, never stranded
        if (!RESTORE_KINDS.has(row.kind) && !NEUTRAL_KINDS.has(row.kind))
          this.applyEffect(row, row.created_at);
      }
    })();
  }

  /** Writes the action, pending, and returns its id. Call BEFORE the command is sent. */
  begin(action: LedgerAction): number {
    this.flush();
    return this.insertAction(action);
  }

  /**
   * `begin` for many actions in one transaction (a fleet-wide shed: one commit,
   * not one per miner); all or none are written.
   */
  beginMany(actions: readonly LedgerAction[]): number[] {
    this.s();
    this.flush();
    return this.db!.transaction(() => actions.map((a) => this.insertAction(a)))();
  }

  private insertAction(action: LedgerAction): number {
    const r = this.s().insert.run({
      device_id: action.deviceId,
      kind: action.kind,
      gpu_index: action.gpuIndex ?? null,
      value_w: finite(action.valueW),
      expected_delta_w: action.expectedDeltaW,
      before_w: finite(action.beforeW),
      efficiency_j_per_th: finite(action.efficiencyJPerTh),
      prior_limit_w: finite(action.priorLimitW),
      reason: action.reason,
      origin: action.origin ?? "policy",
      created_at: action.at,
    });
    return Number(r.lastInsertRowid);
  }

  /**
   * Marks the action done (its effect confirmed) or failed, and updates the
   * device: what the agent slept/limited/capped, or its failure back-off
   * (`failedUntil` = at + back-off, doubling per consecutive failure).
   * Committed with the turn's other finishes (or by the next read of the
   * ledger, which always sees it).
   */
  finish(id: number, { ok, reason }: { ok: boolean; reason: string }, at: number): void {
    this.s();
    this.finishing.push({ id, ok, reason, at });
  }

  /**
   * Commits the queued finishes now, in one transaction; never throws. A batch that cannot be
   * committed is reported and dropped: its rows stay pending, as a finish that failed always
   * left them (the policy still counts them; the next start recovers them as interrupted).
   */
  flush(): void {
    this.finishing.flush();
  }

  private commitFinishes(batch: QueuedFinish[]): void {
    if (!this.db) return;
    const unknown: number[] = [];
    try {
      this.db.transaction(() => {
        for (const f of batch) if (!this.finishOne(f)) unknown.push(f.id);
      })();
    } catch (err) {
      this.onFlushError(err);
      return;
    }
    if (unknown.length > 0) this.onFlushError(new Error(`no ledger action ${unknown.join(", ")}`));
  }

  /** One finish inside the batch's transaction; false when there is no such action. */
  private finishOne({ id, ok, reason, at }: QueuedFinish): boolean {
    const s = this.s();
    const row = s.action.get(id);
    if (!row) return false;
    if (row.state !== "pending") return true;
    s.finish.run({ id, state: ok ? "done" : "failed", finished_at: at, outcome_reason: reason });
    if (NEUTRAL_KINDS.has(row.kind)) return true;
    if (ok) {
      this.applyEffect(row, at);
    } else {
      const d = s.device.get(row.device_id) ?? emptyDevice(row.device_id);
      const n = d.fail_count + 1;
      const backoff = Math.min(this.maxFailBackoffMs, this.failBackoffMs * 2 ** (n - 1));
      s.upsertDevice.run({ ...d, fail_count: n, failed_until: at + backoff });
    }
    return true;
  }

  private applyEffect(row: ActionRow, at: number): void {
    const s = this.s();
    const d = s.device.get(row.device_id) ?? emptyDevice(row.device_id);
    applyDeviceEffect(d, row, at);
    s.upsertDevice.run(d);
  }

  /**
   * Exactly what `plan()` reads (ledger-view.ts). `observedAt`: when the site
   * power the plan works on was measured.
   */
  view(now: number, observedAt?: number | null): LedgerView {
    this.flush();
    return ledgerView(this.s(), {
      now,
      observedAt,
      settleMs: this.settleMs,
      restoreHistoryMs: this.restoreHistoryMs,
    });
  }

  /** The most recent actions, newest first. */
  events(limit = 100): LedgerEvent[] {
    this.flush();
    return this.s().recent.all(limit).map(toEvent);
  }

  /** One device's most recent actions, newest first (the miner detail page). */
  forDevice(deviceId: string, limit = 20): LedgerEvent[] {
    this.flush();
    return this.s().forDevice.all(deviceId, limit).map(toEvent);
  }

  /** One action by id. */
  get(id: number): LedgerEvent | null {
    this.flush();
    const r = this.s().action.get(id);
    return r ? toEvent(r) : null;
  }

  /** Deletes finished actions created before `before` (never inside the restore history). Returns the count. */
  prune(before: number): number {
    this.flush();
    return this.s().prune.run(before).changes;
  }
}
