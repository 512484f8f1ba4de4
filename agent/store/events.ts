// The site's event log (alarms and actions: device faulted, shed, restored,
// ai-capped, failsafe, budget and mode changes, operator actions), kept in
// SQLite so that /api/events and the status page show what happened before a
// restart. Bounded: pruned by age, and held within a row and a byte bound as
// events are added (the oldest go first), whatever the rate. An event gets its
// id at once and is committed with the others of its turn of the event loop (a
// fleet-wide shed's outcomes: one commit, not one per miner); any read here
// commits what is queued first.
import { BoundedTable, type Db, SqliteStore, type TableBounds } from "./db.ts";
import { TurnQueue } from "./turn-queue.ts";

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

export interface EventLogOptions extends Partial<TableBounds> {
  /** Events that could not be stored (already handed out under their ids): dropped, reported once per commit. */
  onDropped?: (err: unknown, count: number) => void;
}

export class EventLog extends SqliteStore {
  private stmts: ReturnType<EventLog["prepare"]> | null = null;
  private table: BoundedTable | null = null;
  private readonly bounds: TableBounds;
  private readonly onDropped: (err: unknown, count: number) => void;
  /** The last id given out (stored or queued). */
  private lastId = 0;
  private readonly queued = new TurnQueue<Row>((rows) => this.commit(rows));

  constructor(path: string, options: EventLogOptions = {}) {
    super(path, "event log", SCHEMA);
    this.bounds = {
      maxRows: options.maxRows ?? EVENTS_MAX_ROWS,
      maxBytes: options.maxBytes ?? EVENTS_MAX_BYTES,
    };
    this.onDropped = options.onDropped ?? (() => {});
  }

  protected override onOpen(db: Db): void {
    this.stmts = this.prepare(db);
    this.table = new BoundedTable({ db, table: "events", bytesSql: BYTES_SQL, bounds: this.bounds });
    this.table.enforce();
    // ids go on from the highest ever given (AUTOINCREMENT's sequence), never reusing a pruned one
    this.lastId = this.stmts.lastId.get()!.n;
  }

  protected override onClose(): void {
    this.flush();
    this.stmts = null;
    this.table = null;
  }

  /** Rows held and the bytes of their text (estimated between trims). */
  get usage(): { rows: number; bytes: number } {
    this.flush();
    return this.table?.usage ?? { rows: 0, bytes: 0 };
  }

  private prepare(db: Db) {
    return {
      insert: db.prepare<[Row]>(
        "INSERT INTO events (id, at, kind, severity, device_id, message, data) VALUES (@id, @at, @kind, @severity, @device_id, @message, @data)",
      ),
      recent: db.prepare<[number], Row>("SELECT * FROM events ORDER BY id DESC LIMIT ?"),
      after: db.prepare<[number, number], Row>("SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?"),
      forDevice: db.prepare<[string, number], Row>(
        "SELECT * FROM events WHERE device_id = ? ORDER BY id DESC LIMIT ?",
      ),
      pruneAge: db.prepare("DELETE FROM events WHERE at < ?"),
      pruneCount: db.prepare("DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?"),
      lastId: db.prepare<[], { n: number }>(
        `SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0),
                    COALESCE((SELECT MAX(id) FROM events), 0)) AS n`,
      ),
    };
  }

  private s() {
    if (!this.stmts) throw new Error("event log is not open");
    return this.stmts;
  }

  /** Gives the event its id and queues it for the turn's commit. */
  append(e: NewSiteEvent): SiteEvent {
    this.s();
    const row: Row = {
      id: ++this.lastId,
      at: e.at,
      kind: e.kind,
      severity: e.severity,
      device_id: e.deviceId ?? null,
      message: e.message,
      data: e.data ? JSON.stringify(e.data) : null,
    };
    this.queued.push(row);
    return {
      id: row.id,
      at: e.at,
      kind: e.kind,
      severity: e.severity,
      deviceId: row.device_id,
      message: e.message,
      data: e.data ?? null,
    };
  }

  /** Commits the queued events now. */
  flush(): void {
    this.queued.flush();
  }

  /** One transaction, or row by row when that fails (a bad row drops alone). */
  private commit(rows: Row[]): void {
    const s = this.s();
    let stored = rows;
    try {
      this.db.transaction(() => {
        for (const row of rows) s.insert.run(row);
      })();
    } catch {
      // one row at a time: a row SQLite refuses is dropped alone, reported once for the batch
      let dropped = 0;
      let firstErr: unknown = null;
      stored = rows.filter((row) => {
        try {
          s.insert.run(row);
          return true;
        } catch (err) {
          dropped++;
          firstErr ??= err;
          return false;
        }
      });
      if (dropped > 0) this.onDropped(firstErr, dropped);
    }
    let bytes = 0;
    for (const row of stored) {
      bytes += ROW_OVERHEAD_BYTES;
      for (const v of [row.kind, row.severity, row.device_id, row.message, row.data])
        if (v !== null) bytes += Buffer.byteLength(v);
    }
    // once for the batch: the bound is checked against what the table now holds
    if (stored.length > 0) this.table?.added(bytes, stored.length);
  }

  /** Newest first. */
  recent(limit = 100): SiteEvent[] {
    this.flush();
    return this.s().recent.all(limit).map(toEvent);
  }

  /** One device's events, newest first. */
  forDevice(deviceId: string, limit = 50): SiteEvent[] {
    this.flush();
    return this.s().forDevice.all(deviceId, limit).map(toEvent);
  }

  /** Oldest first, after an id (a client catching up). */
  after(id: number, limit = 1000): SiteEvent[] {
    this.flush();
    return this.s().after.all(id, limit).map(toEvent);
  }

  /** Drops events older than `before` and all but the newest `keep`. Returns the count removed. */
  prune(before: number, keep: number): number {
    this.flush();
    const s = this.s();
    const n = s.pruneAge.run(before).changes + s.pruneCount.run(keep).changes;
    this.table?.recount();
    return n;
  }
}
