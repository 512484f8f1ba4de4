// The MQTT outbox: what the agent publishes (events, telemetry) while the link
// is down or still replaying, in SQLite so it survives a restart. Messages
// keep their sequence and their payload (with its original timestamp) and
// replay in order. Bounded by size: the oldest telemetry goes first, events
// are never dropped; what was dropped is counted (kept in the same file).
import { type Db, SqliteStore } from "./db.ts";

export type OutboxKind = "event" | "telemetry";

export interface OutboxMessage {
  seq: number;
  kind: OutboxKind;
  topic: string;
  payload: Buffer;
  qos: 0 | 1;
}

interface Row {
  seq: number;
  kind: OutboxKind;
  topic: string;
  payload: Buffer;
  qos: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS outbox (
  seq INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  topic TEXT NOT NULL,
  payload BLOB NOT NULL,
  qos INTEGER NOT NULL,
  bytes INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_kind_seq ON outbox (kind, seq);
CREATE TABLE IF NOT EXISTS outbox_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
`;

/** Per-row overhead counted against the bound, beyond topic and payload. */
const ROW_OVERHEAD_BYTES = 32;

export class Outbox extends SqliteStore {
  private bytes = 0;
  private count = 0;
  private droppedCount = 0;
  private nextSeq = 1;

  constructor(
    path: string,
    private readonly maxBytes: number,
  ) {
    super(path, "outbox", SCHEMA);
  }

  protected override onOpen(db: Db): void {
    const s = db
      .prepare("SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b, COALESCE(MAX(seq), 0) AS m FROM outbox")
      .get() as {
      n: number;
      b: number;
      m: number;
    };
    this.count = s.n;
    this.bytes = s.b;
    this.nextSeq = s.m + 1;
    const d = db.prepare("SELECT value FROM outbox_meta WHERE key = 'dropped'").get() as
      | { value: number }
      | undefined;
    this.droppedCount = d?.value ?? 0;
  }

  /** A sequence number for a message published directly, so a failed one can rejoin in order. */
  takeSeq(): number {
    return this.nextSeq++;
  }

  /** Stores a message (seq given: a direct publish that failed keeps its place). Then enforces the bound. */
  add(m: Omit<OutboxMessage, "seq"> & { seq?: number }): void {
    const db = this.db;
    const seq = m.seq ?? this.takeSeq();
    const bytes = m.payload.length + Buffer.byteLength(m.topic) + ROW_OVERHEAD_BYTES;
    const r = db
      .prepare(
        "INSERT OR IGNORE INTO outbox (seq, kind, topic, payload, qos, bytes) VALUES (?, ?, ?, ?, ?, ?)",
      )
      .run(seq, m.kind, m.topic, m.payload, m.qos, bytes);
    if (r.changes === 0) return;
    this.count++;
    this.bytes += bytes;
    if (this.bytes > this.maxBytes) this.enforceBound();
  }

  /** The oldest messages, in order. */
  peek(limit: number): OutboxMessage[] {
    return this.db
      .prepare<[number], Row>("SELECT seq, kind, topic, payload, qos FROM outbox ORDER BY seq LIMIT ?")
      .all(limit)
      .map((r) => ({ ...r, qos: r.qos === 0 ? 0 : 1 }));
  }

  /** Removes delivered messages. */
  remove(seqs: readonly number[]): void {
    if (seqs.length === 0) return;
    const db = this.db;
    const get = db.prepare<[number], { bytes: number }>("SELECT bytes FROM outbox WHERE seq = ?");
    const del = db.prepare("DELETE FROM outbox WHERE seq = ?");
    db.transaction(() => {
      for (const s of seqs) {
        const r = get.get(s);
        if (!r) continue;
        del.run(s);
        this.count--;
        this.bytes -= r.bytes;
      }
    })();
  }

  get messages(): number {
    return this.count;
  }

  get sizeBytes(): number {
    return this.bytes;
  }

  /** Telemetry messages dropped to keep the bound, since the file was created. */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Drops the oldest telemetry until the outbox fits (events stay, even over the bound). */
  private enforceBound(): void {
    const db = this.db;
    const oldest = db.prepare<[number], { seq: number; bytes: number }>(
      "SELECT seq, bytes FROM outbox WHERE kind = 'telemetry' ORDER BY seq LIMIT ?",
    );
    const del = db.prepare("DELETE FROM outbox WHERE seq = ?");
    db.transaction(() => {
      let dropped = 0;
      while (this.bytes > this.maxBytes) {
        const rows = oldest.all(256);
        if (rows.length === 0) break;
        for (const r of rows) {
          if (this.bytes <= this.maxBytes) break;
          del.run(r.seq);
          this.bytes -= r.bytes;
          this.count--;
          dropped++;
        }
      }
      if (dropped > 0) {
        this.droppedCount += dropped;
        db.prepare(
          "INSERT INTO outbox_meta (key, value) VALUES ('dropped', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        ).run(this.droppedCount);
      }
    })();
  }
}
