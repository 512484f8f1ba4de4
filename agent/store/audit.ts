// The audit log: every operator or remote command and its outcome — who
// (operator name, MQTT key name), through what (http, mqtt, cli), what was
// asked, accepted or refused and why. Refusals are audited too: a forged
// command is exactly what an auditor wants to see. A flood of them must not
// fill the disk, so a refusal with a reason code is aggregated: one row per
// channel, claimed identity, action, source, reason and minute, with a count
// (the first one's body kept as the sample). The table is bounded by rows
// and by bytes; the oldest rows go first.
import { BoundedTable, type Db, SqliteStore, type TableBounds } from "./db.ts";

const AUDIT_CHANNELS = [
  "http",
  "mqtt",
  "cli",
  "local",
  "modbus",
  "openadr",
  "sparkplug",
  "homeassistant",
] as const;
export type AuditChannel = (typeof AUDIT_CHANNELS)[number];

export interface AuditEntry {
  id: number;
  /** The first occurrence (epoch ms). */
  at: number;
  via: AuditChannel;
  /** Operator name or command key name; "anonymous" when unknown (a refused command). */
  who: string;
  /** Command or action name: "budget/set", "device/action", "login", … */
  action: string;
  /** The request as received (secrets never included); for an aggregated refusal, the first one's. */
  body: unknown;
  ok: boolean;
  error: string | null;
  /** A command id or similar, to tie the entry to its response. */
  ref: string | null;
  /** Where it came from: the client address (HTTP), the claimed key (MQTT); null when not told. */
  source: string | null;
  /** A refusal's stable reason code ("bad-signature", "rate-limited"…); null for single entries. */
  reason: string | null;
  /** How many refusals this row stands for (1 for a single entry). */
  count: number;
  /** The last occurrence (epoch ms). */
  lastAt: number;
}

export type NewAuditEntry = Omit<
  AuditEntry,
  "id" | "error" | "ref" | "source" | "reason" | "count" | "lastAt"
> & {
  error?: string | null;
  ref?: string | null;
  source?: string | null;
  /** With `ok: false`, makes the entry an aggregated refusal (see the header). */
  reason?: string | null;
};

export interface AuditOptions extends Partial<TableBounds> {
  /** Distinct refusal rows per minute; further refusals that minute share one row per channel. */
  refusalKeysPerMinute?: number;
  /** How often counts of repeated refusals are written. */
  flushMs?: number;
}

interface Row {
  id: number;
  at: number;
  via: AuditChannel;
  who: string;
  action: string;
  body: string | null;
  ok: number;
  error: string | null;
  ref: string | null;
  source: string | null;
  reason: string | null;
  count: number;
  last_at: number | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  via TEXT NOT NULL,
  who TEXT NOT NULL,
  action TEXT NOT NULL,
  body TEXT,
  ok INTEGER NOT NULL,
  error TEXT,
  ref TEXT,
  source TEXT,
  reason TEXT,
  count INTEGER NOT NULL DEFAULT 1,
  last_at INTEGER
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
CREATE INDEX IF NOT EXISTS audit_ref ON audit (ref);
`;

/** Columns added since the first release; an older file gets them on open. */
const ADDED_COLUMNS: Record<string, string> = {
  source: "TEXT",
  reason: "TEXT",
  count: "INTEGER NOT NULL DEFAULT 1",
  last_at: "INTEGER",
};

/** Audit bodies are bounded: a refused oversized command is recorded, not stored whole. */
const MAX_BODY_CHARS = 4096;
/** A refusal's sample body is smaller still: it is one example of many. */
const MAX_SAMPLE_CHARS = 1024;
const MAX_FIELD_CHARS = 256;
const AUDIT_MAX_ROWS = 100_000;
const AUDIT_MAX_BYTES = 32 * 2 ** 20;
const ROW_OVERHEAD_BYTES = 48;
const TEXT_COLUMNS = ["who", "action", "body", "error", "ref", "source", "reason"];
const BYTES_SQL = `${ROW_OVERHEAD_BYTES} + ${TEXT_COLUMNS.map((c) => `COALESCE(LENGTH(CAST(${c} AS BLOB)), 0)`).join(" + ")}`;

interface Aggregate {
  id: number;
  /** Refusals counted since the row was last written. */
  pending: number;
  lastAt: number;
  entry: AuditEntry;
}

function clip(s: string, n = MAX_FIELD_CHARS): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

function bodyText(body: unknown, max: number): string | null {
  if (body === undefined) return null;
  const text = JSON.stringify(body) ?? null;
  if (text !== null && text.length > max) {
    return JSON.stringify({ truncated: true, chars: text.length, head: text.slice(0, 256) });
  }
  return text;
}

function toEntry(r: Row): AuditEntry {
  return {
    id: r.id,
    at: r.at,
    via: r.via,
    who: r.who,
    action: r.action,
    body: r.body === null ? null : (JSON.parse(r.body) as unknown),
    ok: r.ok === 1,
    error: r.error,
    ref: r.ref,
    source: r.source,
    reason: r.reason,
    count: r.count,
    lastAt: r.last_at ?? r.at,
  };
}

export class AuditLog extends SqliteStore {
  private readonly o: Required<AuditOptions>;
  private table: BoundedTable | null = null;
  /** This minute's refusal rows by key. */
  private aggregates = new Map<string, Aggregate>();
  private minute = -1;
  private flushTimer: NodeJS.Timeout | null = null;

  constructor(path: string, opts: AuditOptions = {}) {
    super(path, "audit log", SCHEMA);
    this.o = {
      maxRows: opts.maxRows ?? AUDIT_MAX_ROWS,
      maxBytes: opts.maxBytes ?? AUDIT_MAX_BYTES,
      refusalKeysPerMinute: opts.refusalKeysPerMinute ?? 64,
      flushMs: opts.flushMs ?? 2000,
    };
  }

  protected override onOpen(db: Db): void {
    const have = new Set(
      (db.prepare("PRAGMA table_info(audit)").all() as { name: string }[]).map((c) => c.name),
    );
    for (const [name, type] of Object.entries(ADDED_COLUMNS)) {
      if (!have.has(name)) db.exec(`ALTER TABLE audit ADD COLUMN ${name} ${type}`);
    }
    this.table = new BoundedTable({
      db,
      table: "audit",
      bytesSql: BYTES_SQL,
      bounds: { maxRows: this.o.maxRows, maxBytes: this.o.maxBytes },
    });
    this.table.enforce();
    this.flushTimer = setInterval(() => this.flushQuietly(), this.o.flushMs);
    this.flushTimer.unref();
  }

  protected override onClose(): void {
    if (this.flushTimer) clearInterval(this.flushTimer);
    this.flushTimer = null;
    this.flushQuietly();
    this.aggregates.clear();
    this.minute = -1;
    this.table = null;
  }

  /** Records an entry; a refusal with a reason code joins this minute's row for its key. */
  append(e: NewAuditEntry): AuditEntry {
    if (!e.ok && e.reason) return this.refusal(e, e.reason);
    return this.insert(e, bodyText(e.body, MAX_BODY_CHARS));
  }

  /** Rows held and the bytes of their text (estimated between trims). */
  get usage(): { rows: number; bytes: number } {
    return this.table?.usage ?? { rows: 0, bytes: 0 };
  }

  /** Newest first. */
  recent(limit = 100): AuditEntry[] {
    this.flush();
    return this.db
      .prepare<[number], Row>("SELECT * FROM audit ORDER BY id DESC LIMIT ?")
      .all(limit)
      .map(toEntry);
  }

  /** The newest entry with this ref (an HTTP action's request id), or null. */
  byRef(ref: string): AuditEntry | null {
    this.flush();
    const r = this.db
      .prepare<[string], Row>("SELECT * FROM audit WHERE ref = ? ORDER BY id DESC LIMIT 1")
      .get(ref);
    return r ? toEntry(r) : null;
  }

  /** The refusals audited (their counts summed), optionally since a time. */
  refusalCount(since = 0): number {
    this.flush();
    const r = this.db
      .prepare<[number], { n: number | null }>(
        "SELECT SUM(count) AS n FROM audit WHERE ok = 0 AND last_at >= ?",
      )
      .get(since);
    return r?.n ?? 0;
  }

  prune(before: number): number {
    this.flush();
    const n = this.db.prepare("DELETE FROM audit WHERE COALESCE(last_at, at) < ?").run(before).changes;
    this.table?.recount();
    return n;
  }

  /** Writes the counts of repeated refusals (also every flushMs, and on close). */
  flush(): void {
    const dirty = [...this.aggregates.values()].filter((a) => a.pending > 0);
    if (dirty.length === 0) return;
    const update = this.db.prepare("UPDATE audit SET count = count + ?, last_at = ? WHERE id = ?");
    this.db.transaction(() => {
      for (const a of dirty) update.run(a.pending, a.lastAt, a.id);
    })();
    for (const a of dirty) a.pending = 0;
  }

  private flushQuietly(): void {
    try {
      if (this.isOpen) this.flush();
    } catch {
      // a busy or closing database: the counts are written with the next flush
    }
  }

  private refusal(e: NewAuditEntry, reason: string): AuditEntry {
    const minute = Math.floor(e.at / 60_000);
    if (minute !== this.minute) {
      this.flush();
      this.aggregates.clear();
      this.minute = minute;
    }
    const source = e.source ?? null;
    let key = JSON.stringify([e.via, e.who, e.action, source, reason]);
    let entry: NewAuditEntry = e;
    if (!this.aggregates.has(key) && this.aggregates.size >= this.o.refusalKeysPerMinute) {
      // a spray of sources or names: the rest of this minute shares one row per channel
      key = JSON.stringify([e.via, "*"]);
      entry = {
        ...e,
        who: "*",
        action: "*",
        source: "*",
        reason: "many",
        error: `more than ${this.o.refusalKeysPerMinute} kinds of refusal this minute; first of the rest: ${clip(e.error ?? "")}`,
      };
    }
    const agg = this.aggregates.get(key);
    if (agg) {
      agg.pending += 1;
      agg.lastAt = e.at;
      agg.entry.count += 1;
      agg.entry.lastAt = e.at;
      return { ...agg.entry };
    }
    const stored = this.insert(
      { ...entry, who: clip(entry.who), action: clip(entry.action), reason: entry.reason ?? reason },
      bodyText(entry.body, MAX_SAMPLE_CHARS),
    );
    this.aggregates.set(key, { id: stored.id, pending: 0, lastAt: e.at, entry: stored });
    return { ...stored };
  }

  private insert(e: NewAuditEntry, body: string | null): AuditEntry {
    const row = {
      who: e.who,
      action: e.action,
      error: e.error ?? null,
      ref: e.ref ?? null,
      source: e.source === undefined || e.source === null ? null : clip(e.source),
      reason: e.ok ? null : (e.reason ?? null),
    };
    const r = this.db
      .prepare(
        "INSERT INTO audit (at, via, who, action, body, ok, error, ref, source, reason, count, last_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
      )
      .run(
        e.at,
        e.via,
        row.who,
        row.action,
        body,
        e.ok ? 1 : 0,
        row.error,
        row.ref,
        row.source,
        row.reason,
        e.at,
      );
    const bytes =
      ROW_OVERHEAD_BYTES +
      [row.who, row.action, body, row.error, row.ref, row.source, row.reason].reduce(
        (n, s) => n + (s === null ? 0 : Buffer.byteLength(s)),
        0,
      );
    if (this.table && this.table.added(bytes) > 0) this.forgetDeletedAggregates();
    return {
      id: Number(r.lastInsertRowid),
      at: e.at,
      via: e.via,
      who: row.who,
      action: row.action,
      body: e.body,
      ok: e.ok,
      error: row.error,
      ref: row.ref,
      source: row.source,
      reason: row.reason,
      count: 1,
      lastAt: e.at,
    };
  }

  /** After a trim: a row this minute's counts point at may be gone; start those keys afresh. */
  private forgetDeletedAggregates(): void {
    const min =
      (this.db.prepare("SELECT MIN(id) AS id FROM audit").get() as { id: number | null }).id ?? Infinity;
    for (const [k, a] of this.aggregates) if (a.id < min) this.aggregates.delete(k);
  }
}
