// The site's event log (alarms and actions: device faulted, shed, restored,
// ai-capped, failsafe, budget and mode changes, operator actions), kept in
// SQLite so that /api/events and the status page show what happened before a
// restart. Bounded: pruned by age, and held within a row and a byte bound as
// events are added (the oldest go first), whatever the rate.
import { BoundedTable, type Db, SqliteStore, type TableBounds } from "./db.ts";

const EVENT_SEVERITIES = ["info", "warning", "alarm"] as const;
type EventSeverity = (typeof EVENT_SEVERITIES)[number];

export interface SiteEvent {
  /** Assigned when stored; increases with time. */
  id: number;
  /** Epoch ms. */
  at: number;
  /** Stable, machine-readable: "shed", "restored", "action-failed", "device-degraded", … */
  kind: string;
  severity: EventSeverity;
  deviceId: string | null;
  message: string;
  data: Record<string, unknown> | null;
}

export type NewSiteEvent = Omit<SiteEvent, "id" | "data" | "deviceId"> & {
  deviceId?: string | null;
  data?: Record<string, unknown> | null;
};

interface Row {
  id: number;
  at: number;
  kind: string;
  severity: EventSeverity;
  device_id: string | null;
  message: string;
  data: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  kind TEXT NOT NULL,
  severity TEXT NOT NULL,
  device_id TEXT,
  message TEXT NOT NULL,
  data TEXT
);
CREATE INDEX IF NOT EXISTS events_at ON events (at);
CREATE INDEX IF NOT EXISTS events_device ON events (device_id, id);
`;

const EVENTS_MAX_ROWS = 200_000;
const EVENTS_MAX_BYTES = 64 * 2 ** 20;
const ROW_OVERHEAD_BYTES = 48;
const BYTES_SQL = `${ROW_OVERHEAD_BYTES} + ${["kind", "severity", "device_id", "message", "data"].map((c) => `COALESCE(LENGTH(CAST(${c} AS BLOB)), 0)`).join(" + ")}`;

function toEvent(r: Row): SiteEvent {
  return {
    id: r.id,
    at: r.at,
    kind: r.kind,
    severity: r.severity,
    deviceId: r.device_id,
    message: r.message,
    data: r.data ? (JSON.parse(r.data) as Record<string, unknown>) : null,
  };
}

export class EventLog extends SqliteStore {
  private stmts: ReturnType<EventLog["prepare"]> | null = null;
  private table: BoundedTable | null = null;
  private readonly bounds: TableBounds;

  constructor(path: string, bounds: Partial<TableBounds> = {}) {
    super(path, "event log", SCHEMA);
    this.bounds = {
      maxRows: bounds.maxRows ?? EVENTS_MAX_ROWS,
      maxBytes: bounds.maxBytes ?? EVENTS_MAX_BYTES,
    };
  }

  protected override onOpen(db: Db): void {
    this.stmts = this.prepare(db);
    this.table = new BoundedTable({ db, table: "events", bytesSql: BYTES_SQL, bounds: this.bounds });
    this.table.enforce();
  }

  protected override onClose(): void {
    this.stmts = null;
    this.table = null;
  }

  /** Rows held and the bytes of their text (estimated between trims). */
  get usage(): { rows: number; bytes: number } {
    return this.table?.usage ?? { rows: 0, bytes: 0 };
  }

  private prepare(db: Db) {
    return {
      insert: db.prepare(
        "INSERT INTO events (at, kind, severity, device_id, message, data) VALUES (@at, @kind, @severity, @device_id, @message, @data)",
      ),
      recent: db.prepare<[number], Row>("SELECT * FROM events ORDER BY id DESC LIMIT ?"),
      after: db.prepare<[number, number], Row>("SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?"),
      forDevice: db.prepare<[string, number], Row>(
        "SELECT * FROM events WHERE device_id = ? ORDER BY id DESC LIMIT ?",
      ),
      pruneAge: db.prepare("DELETE FROM events WHERE at < ?"),
      pruneCount: db.prepare("DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?"),
    };
  }

  private s() {
    if (!this.stmts) throw new Error("event log is not open");
    return this.stmts;
  }

  append(e: NewSiteEvent): SiteEvent {
    const row = {
      at: e.at,
      kind: e.kind,
      severity: e.severity,
      device_id: e.deviceId ?? null,
      message: e.message,
      data: e.data ? JSON.stringify(e.data) : null,
    };
    const id = Number(this.s().insert.run(row).lastInsertRowid);
    this.table?.added(
      ROW_OVERHEAD_BYTES +
        [row.kind, row.severity, row.device_id, row.message, row.data].reduce(
          (n, s) => n + (s === null ? 0 : Buffer.byteLength(s)),
          0,
        ),
    );
    return {
      id,
      at: e.at,
      kind: e.kind,
      severity: e.severity,
      deviceId: row.device_id,
      message: e.message,
      data: e.data ?? null,
    };
  }

  /** Newest first. */
  recent(limit = 100): SiteEvent[] {
    return this.s().recent.all(limit).map(toEvent);
  }

  /** One device's events, newest first. */
  forDevice(deviceId: string, limit = 50): SiteEvent[] {
    return this.s().forDevice.all(deviceId, limit).map(toEvent);
  }

  /** Oldest first, after an id (a client catching up). */
  after(id: number, limit = 1000): SiteEvent[] {
    return this.s().after.all(id, limit).map(toEvent);
  }

  /** Drops events older than `before` and all but the newest `keep`. Returns the count removed. */
  prune(before: number, keep: number): number {
    const s = this.s();
    const n = s.pruneAge.run(before).changes + s.pruneCount.run(keep).changes;
    this.table?.recount();
    return n;
  }
}
