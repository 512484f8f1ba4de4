// The replay cache: command ids already accepted, in SQLite so that a restart
// does not reopen the window. An id only needs remembering while its issuedAt
// could still pass the ±skew check; entries older than 2×skew are pruned.
import { SqliteStore } from "../store/db.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS mqtt_replay (
  id TEXT PRIMARY KEY,
  issued_at INTEGER NOT NULL,
  seen_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS mqtt_replay_issued ON mqtt_replay (issued_at);
`;

const PRUNE_EVERY_MS = 60_000;

export class ReplayCache extends SqliteStore {
  private lastPruneAt = 0;

  constructor(
    path: string,
    private readonly skewS: number,
  ) {
    super(path, "replay cache", SCHEMA);
  }

  /** Records the id; false when it was seen before (a replay). */
  remember(id: string, issuedAtMs: number, now: number = Date.now()): boolean {
    const db = this.db;
    if (now - this.lastPruneAt > PRUNE_EVERY_MS) this.prune(now);
    return (
      db
        .prepare("INSERT OR IGNORE INTO mqtt_replay (id, issued_at, seen_at) VALUES (?, ?, ?)")
        .run(id, issuedAtMs, now).changes === 1
    );
  }

  prune(now: number = Date.now()): number {
    this.lastPruneAt = now;
    return this.db.prepare("DELETE FROM mqtt_replay WHERE issued_at < ?").run(now - 2 * this.skewS * 1000)
      .changes;
  }

  size(): number {
    return (this.db.prepare("SELECT COUNT(*) AS n FROM mqtt_replay").get() as { n: number }).n;
  }
}
