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
