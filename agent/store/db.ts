// Opens the agent's SQLite file. Every store (ledger, events, audit,
// settings, outbox, history) keeps its own tables in the one file at
// `store.path`, each through its own connection: WAL lets them read and write
// side by side, and synchronous=NORMAL keeps a commit to one fsync of the WAL.
import Database from "better-sqlite3";

export type Db = Database.Database;

/** Each connection's page cache, KiB (SQLite's default is 2,000). */
export const PAGE_CACHE_KIB = 256;

export function openDb(path: string): Db {
  const db = new Database(path);
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    // stores write from one process; a checkpoint by another connection can hold the lock briefly
    db.pragma("busy_timeout = 5000");
    // each store's connection has its own page cache, 2 MiB by default: a dozen of them came to
    // a tenth of the agent's memory. Their tables are small and read mostly by key or at the
    // end; a miss is a read from the OS's cache of the same file.
    db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/**
 * One store's tables in the agent's SQLite file, through its own connection:
 * opening (schema first), closing, and the "not open" guard, written once.
 */
export abstract class SqliteStore {
  private conn: Db | null = null;

  constructor(
    protected readonly path: string,
    private readonly label: string,
    private readonly schema: string,
  ) {}

  get isOpen(): boolean {
    return this.conn !== null;
  }

  open(): void {
    if (this.conn) return;
    const db = openDb(this.path);
    try {
      db.exec(this.schema);
      this.onOpen(db);
    } catch (err) {
      db.close();
      throw err;
    }
    this.conn = db;
  }

  close(): void {
    if (!this.conn) return;
    this.onClose();
    this.conn.close();
    this.conn = null;
  }

  /** After the schema: prepare statements, read what is kept in memory. */
  protected onOpen(_db: Db): void {}

  /** Before the connection closes: flush what is buffered. */
  protected onClose(): void {}

  protected get db(): Db {
    if (!this.conn) throw new Error(`${this.label} is not open`);
    return this.conn;
  }
}

/** How many rows, and how many bytes of their text, one table may keep. */
export interface TableBounds {
  maxRows: number;
  maxBytes: number;
}

/**
 * Keeps an append-mostly table (INTEGER PRIMARY KEY `id`, oldest first)
 * within its bounds: counts rows and the bytes of their text as they are
 * added, and when either goes over, deletes the oldest rows down to 90 % of
 * the bound (the slack keeps it from deleting on every insert). The count is
 * taken once at open and after each trim, so the check per insert is two
 * additions. Bytes are the row's text columns as stored (`bytesSql`), plus a
 * fixed allowance for the numbers and SQLite's own overhead.
 */
export class BoundedTable {
  private rows = 0;
  private bytes = 0;

  private readonly count: Database.Statement<[], { n: number; b: number }>;
  private readonly newestCut: Database.Statement<[number, number], { id: number }>;
  private readonly deleteUpTo: Database.Statement<[number]>;
  readonly bounds: TableBounds;

  /** `bytesSql`: the SQL expression of one row's size in bytes. */
  constructor(o: { db: Db; table: string; bytesSql: string; bounds: TableBounds }) {
    const { db, table, bytesSql } = o;
    this.bounds = o.bounds;
    // compiled once: an insert path that trims must not compile SQL each time
    this.count = db.prepare(`SELECT COUNT(*) AS n, COALESCE(SUM(${bytesSql}), 0) AS b FROM ${table}`);
    // the newest rows that fit both bounds; everything older goes
    this.newestCut = db.prepare(
      `SELECT id FROM (
         SELECT id, ROW_NUMBER() OVER w AS n, SUM(${bytesSql}) OVER w AS b
         FROM ${table} WINDOW w AS (ORDER BY id DESC)
       ) WHERE n > ? OR b > ? ORDER BY id DESC LIMIT 1`,
    );
    this.deleteUpTo = db.prepare(`DELETE FROM ${table} WHERE id <= ?`);
    this.recount();
  }

  /** Rows and bytes held now (estimated between trims). */
  get usage(): { rows: number; bytes: number } {
    return { rows: this.rows, bytes: this.bytes };
  }

  /** Inserted rows (one by default) of `bytes` in all; trims when a bound is passed. Returns the rows deleted. */
  added(bytes: number, rows = 1): number {
    this.rows += rows;
    this.bytes += bytes;
    return this.enforce();
  }

  /** Trims if a bound is passed (at open: a file from before the bounds, or with other ones). */
  enforce(): number {
    return this.rows > this.bounds.maxRows || this.bytes > this.bounds.maxBytes ? this.trim() : 0;
  }

  /** Rows were deleted (or changed) elsewhere: count again. */
  recount(): void {
    const r = this.count.get()!;
    this.rows = r.n;
    this.bytes = r.b;
  }

  /** Deletes the oldest rows until both bounds hold with 10 % to spare. */
  trim(): number {
    const keepRows = Math.floor(this.bounds.maxRows * 0.9);
    const keepBytes = Math.floor(this.bounds.maxBytes * 0.9);
    const cut = this.newestCut.get(keepRows, keepBytes);
    if (!cut) {
      this.recount();
      return 0;
    }
    const deleted = this.deleteUpTo.run(cut.id).changes;
    this.recount();
    return deleted;
  }
}
