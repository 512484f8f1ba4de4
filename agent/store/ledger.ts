// The curtailment ledger (docs/design.md, The control loop):
// every action is written here, pending, BEFORE its command is sent, and
// finished (done/failed) once the confirmed outcome is known. Per-device state
// (what the agent slept, limited, capped; failure back-off) lives beside it, so
// that after a restart sleeping miners stay asleep and come back only through
// the policy's ramp. SQLite through better-sqlite3 (synchronous: a `begin()`
// has committed when it returns), WAL, synchronous=NORMAL, prepared statements.
import type Database from "better-sqlite3";
import type {
  ActionKind,
  ActionOrigin,
  DeviceLedger,
  LedgerView,
  PendingAction,
  PlanAction,
  RestoreRecord,
} from "../control/types.ts";
import { openDb } from "./db.ts";

export type ActionState = "pending" | "done" | "failed";

/** A confirmed action is never counted as pending for longer than this (a meter that stopped updating). */
const MAX_SETTLE_MS = 10_000;

/** The reason given to actions left pending by a crash. */
export const INTERRUPTED_REASON = "interrupted (agent restarted)";

const RESTORE_KINDS: ReadonlySet<ActionKind> = new Set<ActionKind>(["wake", "restorePowerLimit", "uncapGpu"]);

/**
 * Actions that move no power (a locate LED): written and finished like every action, for the
 * audit trail, but never a pending shed or restore, never an effect on the device's state, and
 * a failure backs nothing off (a dead LED must not keep the policy from shedding the miner).
 */
const NEUTRAL_KINDS: ReadonlySet<ActionKind> = new Set<ActionKind>(["locate"]);

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
}

interface ActionRow {
  id: number;
  device_id: string;
  kind: ActionKind;
  gpu_index: number | null;
  value_w: number | null;
  expected_delta_w: number;
  before_w: number | null;
  efficiency_j_per_th: number | null;
  prior_limit_w: number | null;
  reason: string;
  origin: ActionOrigin;
  state: ActionState;
  created_at: number;
  finished_at: number | null;
  outcome_reason: string | null;
}

interface DeviceRow {
  device_id: string;
  slept_by_agent: number;
  slept_at: number | null;
  slept_power_w: number | null;
  efficiency_j_per_th: number | null;
  woke_at: number | null;
  power_limit_w: number | null;
  power_limit_at: number | null;
  gpu_caps: string | null;
  failed_until: number | null;
  fail_count: number;
  moved_at: number | null;
  moved_dir: number | null;
  drained_at: number | null;
}

type GpuCaps = Record<string, { originalW: number; at: number }>;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS actions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  device_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  gpu_index INTEGER,
  value_w REAL,
  expected_delta_w REAL NOT NULL,
  before_w REAL,
  efficiency_j_per_th REAL,
  prior_limit_w REAL,
  reason TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
  created_at INTEGER NOT NULL,
  finished_at INTEGER,
  outcome_reason TEXT
);
CREATE INDEX IF NOT EXISTS actions_state ON actions (state);
CREATE INDEX IF NOT EXISTS actions_created ON actions (created_at);
CREATE INDEX IF NOT EXISTS actions_device ON actions (device_id, id);
CREATE TABLE IF NOT EXISTS devices (
  device_id TEXT PRIMARY KEY,
  slept_by_agent INTEGER NOT NULL DEFAULT 0,
  slept_at INTEGER,
  slept_power_w REAL,
  efficiency_j_per_th REAL,
  woke_at INTEGER,
  power_limit_w REAL,
  power_limit_at INTEGER,
  gpu_caps TEXT,
  failed_until INTEGER,
  fail_count INTEGER NOT NULL DEFAULT 0
);
`;

/** Columns added after the first release: added in place, old rows keep working. */
function migrate(db: Database.Database): void {
  const columns = (table: string) =>
    new Set((db.pragma(`table_info(${table})`) as { name: string }[]).map((c) => c.name));
  const actions = columns("actions");
  if (!actions.has("origin")) db.exec("ALTER TABLE actions ADD COLUMN origin TEXT NOT NULL DEFAULT 'policy'");
  const devices = columns("devices");
  for (const col of ["moved_at INTEGER", "moved_dir INTEGER", "drained_at INTEGER"]) {
    if (!devices.has(col.split(" ")[0]!)) db.exec(`ALTER TABLE devices ADD COLUMN ${col}`);
  }
}

/** Which way an action moves a miner's power: the track mode's oscillation guard. */
function moveDir(kind: ActionKind): 1 | -1 | null {
  switch (kind) {
    case "sleep":
    case "setPowerLimit":
      return -1;
    case "wake":
    case "restorePowerLimit":
      return 1;
    default:
      return null;
  }
}

/**
 * An operator's action takes the device out of the agent's hands for what it
 * touched: a miner the operator slept or woke is no longer "slept by the
 * agent" (the policy never wakes what it did not sleep), and a limit the
 * operator set is not restored by the policy.
 */
function applyOperatorEffect(d: DeviceRow, row: ActionRow, at: number): void {
  switch (row.kind) {
    case "sleep":
    case "wake":
      d.slept_by_agent = 0;
      d.slept_at = null;
      d.slept_power_w = null;
      if (row.kind === "wake") d.woke_at = at;
      break;
    case "setPowerLimit":
    case "restorePowerLimit":
      d.power_limit_w = null;
      d.power_limit_at = null;
      break;
    case "capGpu":
    case "uncapGpu": {
      if (row.gpu_index === null || !d.gpu_caps) break;
      const caps = JSON.parse(d.gpu_caps) as GpuCaps;
      delete caps[String(row.gpu_index)];
      d.gpu_caps = Object.keys(caps).length > 0 ? JSON.stringify(caps) : null;
      break;
    }
    case "reboot":
    case "locate":
      break;
  }
}

function finite(v: number | null | undefined): number | null {
  return v != null && Number.isFinite(v) ? v : null;
}

function emptyDevice(id: string): DeviceRow {
  return {
    device_id: id,
    slept_by_agent: 0,
    slept_at: null,
    slept_power_w: null,
    efficiency_j_per_th: null,
    woke_at: null,
    power_limit_w: null,
    power_limit_at: null,
    gpu_caps: null,
    failed_until: null,
    fail_count: 0,
    moved_at: null,
    moved_dir: null,
    drained_at: null,
  };
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

function addPending(p: PendingAction | null | undefined, expectedW: number, at: number): PendingAction {
  return p
    ? { expectedW: p.expectedW + expectedW, issuedAt: Math.min(p.issuedAt, at) }
    : { expectedW, issuedAt: at };
}

export class Ledger {
  private db: Database.Database | null = null;
  private stmts: ReturnType<Ledger["prepare"]> | null = null;
  private readonly failBackoffMs: number;
  private readonly maxFailBackoffMs: number;
  private readonly restoreHistoryMs: number;
  private readonly settleMs: number;

  constructor(
    private readonly path: string,
    options: LedgerOptions = {},
  ) {
    this.failBackoffMs = options.failBackoffMs ?? 30_000;
    this.maxFailBackoffMs = options.maxFailBackoffMs ?? 15 * 60_000;
    this.restoreHistoryMs = Math.max(60_000, options.restoreHistoryMs ?? 60_000);
    this.settleMs = options.settleMs ?? 0;
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
      db.exec(SCHEMA);
      migrate(db);
      this.db = db;
      this.stmts = this.prepare(db);
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
    this.db.close();
    this.db = null;
    this.stmts = null;
  }

  private prepare(db: Database.Database) {
    return {
      insert: db.prepare(
        `INSERT INTO actions (device_id, kind, gpu_index, value_w, expected_delta_w, before_w,
           efficiency_j_per_th, prior_limit_w, reason, origin, state, created_at)
         VALUES (@device_id, @kind, @gpu_index, @value_w, @expected_delta_w, @before_w,
           @efficiency_j_per_th, @prior_limit_w, @reason, @origin, 'pending', @created_at)`,
      ),
      action: db.prepare<[number], ActionRow>("SELECT * FROM actions WHERE id = ?"),
      finish: db.prepare(
        "UPDATE actions SET state = @state, finished_at = @finished_at, outcome_reason = @outcome_reason WHERE id = @id",
      ),
      pendingAll: db.prepare<[], ActionRow>("SELECT * FROM actions WHERE state = 'pending' ORDER BY id"),
      device: db.prepare<[string], DeviceRow>("SELECT * FROM devices WHERE device_id = ?"),
      devices: db.prepare<[], DeviceRow>("SELECT * FROM devices"),
      upsertDevice: db.prepare(
        `INSERT INTO devices (device_id, slept_by_agent, slept_at, slept_power_w, efficiency_j_per_th,
           woke_at, power_limit_w, power_limit_at, gpu_caps, failed_until, fail_count,
           moved_at, moved_dir, drained_at)
         VALUES (@device_id, @slept_by_agent, @slept_at, @slept_power_w, @efficiency_j_per_th,
           @woke_at, @power_limit_w, @power_limit_at, @gpu_caps, @failed_until, @fail_count,
           @moved_at, @moved_dir, @drained_at)
         ON CONFLICT (device_id) DO UPDATE SET
           slept_by_agent = excluded.slept_by_agent, slept_at = excluded.slept_at,
           slept_power_w = excluded.slept_power_w, efficiency_j_per_th = excluded.efficiency_j_per_th,
           woke_at = excluded.woke_at, power_limit_w = excluded.power_limit_w,
           power_limit_at = excluded.power_limit_at, gpu_caps = excluded.gpu_caps,
           failed_until = excluded.failed_until, fail_count = excluded.fail_count,
           moved_at = excluded.moved_at, moved_dir = excluded.moved_dir, drained_at = excluded.drained_at`,
      ),
      live: db.prepare<[number], ActionRow>(
        `SELECT * FROM actions WHERE (state = 'pending' OR (state = 'done' AND finished_at > ?))
         AND kind NOT IN (${[...NEUTRAL_KINDS].map((k) => `'${k}'`).join(", ")}) ORDER BY id`,
      ),
      restores: db.prepare<[number], ActionRow>(
        `SELECT * FROM actions WHERE kind IN ('wake', 'restorePowerLimit', 'uncapGpu') AND created_at > ?
         AND NOT (state = 'failed' AND outcome_reason IS NOT '${INTERRUPTED_REASON}') ORDER BY id`,
      ),
      sheds: db.prepare<[number], ActionRow>(
        `SELECT * FROM actions WHERE kind IN ('sleep', 'setPowerLimit', 'capGpu') AND created_at > ?
         AND NOT (state = 'failed' AND outcome_reason IS NOT '${INTERRUPTED_REASON}') ORDER BY id`,
      ),
      recent: db.prepare<[number], ActionRow>("SELECT * FROM actions ORDER BY id DESC LIMIT ?"),
      forDevice: db.prepare<[string, number], ActionRow>(
        "SELECT * FROM actions WHERE device_id = ? ORDER BY id DESC LIMIT ?",
      ),
      prune: db.prepare("DELETE FROM actions WHERE state != 'pending' AND created_at < ?"),
    };
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
    return this.insertAction(action);
  }

  /**
   * `begin` for many actions in one transaction (a fleet-wide shed: one commit,
   * not one per miner); all or none are written.
   */
  beginMany(actions: readonly LedgerAction[]): number[] {
    this.s();
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
   */
  finish(id: number, ok: boolean, reason: string, at: number): void {
    const s = this.s();
    this.db!.transaction(() => {
      const row = s.action.get(id);
      if (!row) throw new Error(`no ledger action ${id}`);
      if (row.state !== "pending") return;
      s.finish.run({ id, state: ok ? "done" : "failed", finished_at: at, outcome_reason: reason });
      if (NEUTRAL_KINDS.has(row.kind)) return;
      if (ok) {
        this.applyEffect(row, at);
      } else {
        const d = s.device.get(row.device_id) ?? emptyDevice(row.device_id);
        const n = d.fail_count + 1;
        const backoff = Math.min(this.maxFailBackoffMs, this.failBackoffMs * 2 ** (n - 1));
        s.upsertDevice.run({ ...d, fail_count: n, failed_until: at + backoff });
      }
    })();
  }

  private applyEffect(row: ActionRow, at: number): void {
    const s = this.s();
    const d = s.device.get(row.device_id) ?? emptyDevice(row.device_id);
    d.fail_count = 0;
    d.failed_until = null;
    if (row.origin === "operator") {
      applyOperatorEffect(d, row, at);
      s.upsertDevice.run(d);
      return;
    }
    const dir = moveDir(row.kind);
    if (dir !== null) {
      d.moved_at = at;
      d.moved_dir = dir;
    }
    switch (row.kind) {
      case "sleep":
        d.slept_by_agent = 1;
        d.slept_at = at;
        d.slept_power_w = row.before_w ?? Math.abs(row.expected_delta_w);
        d.efficiency_j_per_th = row.efficiency_j_per_th;
        break;
      case "wake":
        d.slept_by_agent = 0;
        d.slept_at = null;
        d.slept_power_w = null;
        d.woke_at = at;
        break;
      case "setPowerLimit":
        if (d.power_limit_w === null) {
          d.power_limit_w = row.prior_limit_w ?? row.before_w ?? null;
          d.power_limit_at = at;
        }
        break;
      case "restorePowerLimit":
        // track mode raises a target part of the way: the limit is the agent's until it is whole
        if (row.value_w === null || d.power_limit_w === null || row.value_w >= d.power_limit_w - 1) {
          d.power_limit_w = null;
          d.power_limit_at = null;
        }
        break;
      case "drainGpuNode":
        d.drained_at = at;
        break;
      case "resumeGpuNode":
        d.drained_at = null;
        break;
      case "capGpu":
      case "uncapGpu": {
        if (row.gpu_index === null) break;
        const caps: GpuCaps = d.gpu_caps ? (JSON.parse(d.gpu_caps) as GpuCaps) : {};
        const key = String(row.gpu_index);
        if (row.kind === "capGpu") {
          const original = row.prior_limit_w ?? row.before_w;
          if (!caps[key] && original != null) caps[key] = { originalW: original, at };
        } else {
          const cap = caps[key];
          if (cap && (row.value_w === null || row.value_w >= cap.originalW)) delete caps[key];
        }
        d.gpu_caps = Object.keys(caps).length > 0 ? JSON.stringify(caps) : null;
        break;
      }
    }
    s.upsertDevice.run(d);
  }

  /**
   * Exactly what `plan()` reads: per-device state with pending actions, and the
   * recent restores. `observedAt`: when the site power the plan works on was
   * measured; an action confirmed after it is not in that reading yet and still
   * counts as pending (else the next tick sheds it again: over-shedding by one
   * meter period). Bounded: no action stays pending past MAX_SETTLE_MS.
   */
  view(now: number, observedAt?: number | null): LedgerView {
    const s = this.s();
    const devices = new Map<string, DeviceLedger>();
    for (const d of s.devices.all()) {
      let gpuCaps: Map<number, { originalW: number; at: number }> | null = null;
      if (d.gpu_caps) {
        gpuCaps = new Map();
        for (const [k, v] of Object.entries(JSON.parse(d.gpu_caps) as GpuCaps)) gpuCaps.set(Number(k), v);
      }
      devices.set(d.device_id, {
        sleptAt: d.slept_by_agent ? d.slept_at : null,
        sleptPowerW: d.slept_by_agent ? d.slept_power_w : null,
        efficiencyJPerTh: d.efficiency_j_per_th,
        wokeAt: d.woke_at,
        failedUntil: d.failed_until,
        powerLimit:
          d.power_limit_w !== null ? { originalW: d.power_limit_w, at: d.power_limit_at ?? 0 } : null,
        gpuCaps,
        movedAt: d.moved_at,
        movedDir: d.moved_dir === 1 ? 1 : d.moved_dir === -1 ? -1 : null,
        drainedAt: d.drained_at,
        pendingWake: null,
        pendingShed: null,
      });
    }
    const settledBefore =
      observedAt != null
        ? Math.max(Math.min(observedAt, now - this.settleMs), now - MAX_SETTLE_MS)
        : now - this.settleMs;
    for (const r of s.live.all(settledBefore)) {
      const l: DeviceLedger = devices.get(r.device_id) ?? {};
      const w = Math.abs(r.expected_delta_w);
      if (RESTORE_KINDS.has(r.kind)) l.pendingWake = addPending(l.pendingWake, w, r.created_at);
      else l.pendingShed = addPending(l.pendingShed, w, r.created_at);
      devices.set(r.device_id, l);
    }
    const restores: RestoreRecord[] = s.restores.all(now - this.restoreHistoryMs).map((r) => ({
      deviceId: r.device_id,
      expectedW: Math.abs(r.expected_delta_w),
      at: r.created_at,
      kind: r.kind,
    }));
    const sheds: RestoreRecord[] = s.sheds.all(now - 60_000).map((r) => ({
      deviceId: r.device_id,
      expectedW: Math.abs(r.expected_delta_w),
      at: r.created_at,
    }));
    return { devices, restores, sheds };
  }

  /** The most recent actions, newest first. */
  events(limit = 100): LedgerEvent[] {
    return this.s().recent.all(limit).map(toEvent);
  }

  /** One device's most recent actions, newest first (the miner detail page). */
  forDevice(deviceId: string, limit = 20): LedgerEvent[] {
    return this.s().forDevice.all(deviceId, limit).map(toEvent);
  }

  /** One action by id. */
  get(id: number): LedgerEvent | null {
    const r = this.s().action.get(id);
    return r ? toEvent(r) : null;
  }

  /** Deletes finished actions created before `before` (never inside the restore history). Returns the count. */
  prune(before: number): number {
    return this.s().prune.run(before).changes;
  }
}
