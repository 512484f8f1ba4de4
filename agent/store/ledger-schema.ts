// The ledger's tables: the schema, the columns added since the first release,
// the row shapes and the prepared statements. Apart from ledger.ts so that the
// SQL lives in one place and the ledger class reads as what it does.
import type Database from "better-sqlite3";
import type { ActionKind, ActionOrigin } from "../control/types.ts";

export type ActionState = "pending" | "done" | "failed";

/** The reason given to actions left pending by a crash. */
export const INTERRUPTED_REASON = "interrupted (agent restarted)";

export const RESTORE_KINDS: ReadonlySet<ActionKind> = new Set<ActionKind>([
  "wake",
  "restorePowerLimit",
  "uncapGpu",
]);

/**
 * Actions that move no power (a locate LED): written and finished like every action, for the
 * audit trail, but never a pending shed or restore, never an effect on the device's state, and
 * a failure backs nothing off (a dead LED must not keep the policy from shedding the miner).
 */
export const NEUTRAL_KINDS: ReadonlySet<ActionKind> = new Set<ActionKind>(["locate"]);

export interface ActionRow {
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

export interface DeviceRow {
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

export type GpuCaps = Record<string, { originalW: number; at: number }>;

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

/** Opens the schema on `db`, migrated, and prepares the statements. */
export function prepareLedger(db: Database.Database) {
  db.exec(SCHEMA);
  migrate(db);
  return prepareStatements(db);
}

export type LedgerStatements = ReturnType<typeof prepareStatements>;

function prepareStatements(db: Database.Database) {
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

export function emptyDevice(id: string): DeviceRow {
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
