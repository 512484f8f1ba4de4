// Opens the agent's SQLite file. Every store (ledger, events, audit,
// settings, outbox, history) keeps its own tables in the one file at
// `store.path`, each through its own connection: WAL lets them read and write
// side by side, and synchronous=NORMAL keeps a commit to one fsync of the WAL.
import Database from "better-sqlite3";

export type Db = Database.Database;

export function openDb(path: string): Db {
  const db = new Database(path);
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    // stores write from one process; a checkpoint by another connection can hold the lock briefly
    db.pragma("busy_timeout = 5000");
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
