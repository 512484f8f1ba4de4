// What `npm run flood` reads about the agent from outside it: open file
// descriptors and CPU ticks from /proc/<pid>, the host's listen-queue
// overflows from /proc/net/netstat, and the state database's size with its
// WAL written back.
import { readdirSync, readFileSync, statSync } from "node:fs";
import Database from "better-sqlite3";

/** TcpExt ListenOverflows from /proc/net/netstat (host-wide), or null. */
export function listenOverflows(): number | null {
  try {
    const lines = readFileSync("/proc/net/netstat", "utf8")
      .split("\n")
      .filter((l) => l.startsWith("TcpExt:"));
    const names = lines[0]!.split(/\s+/);
    const vals = lines[1]!.split(/\s+/);
    const i = names.indexOf("ListenOverflows");
    return i > 0 ? Number(vals[i]) : null;
  } catch {
    return null;
  }
}

export function fdsOf(pid: number): number | null {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
}

/** User plus system CPU time of a process, in clock ticks (100 a second). */
export function cpuTicks(pid: number): number | null {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return null;
  }
}

/** A process's CPU use between calls, in percent of one core (null until two readings). */
export function cpuMeter(pid: number): () => number | null {
  let last = cpuTicks(pid);
  let lastAt = Date.now();
  return () => {
    const cpu = cpuTicks(pid);
    const pct =
      cpu !== null && last !== null
        ? Math.round(((cpu - last) / 100 / ((Date.now() - lastAt) / 1000)) * 100)
        : null;
    last = cpu;
    lastAt = Date.now();
    return pct;
  };
}

/**
 * The database file's size with everything in the WAL written into it (a
 * TRUNCATE checkpoint from this process, as SQLite allows beside the agent's
 * own connections): what the data takes, not where the journal happens to be
 * in its reuse cycle.
 */
export function checkpointedBytes(path: string): number {
  const db = new Database(path);
  try {
    db.pragma("busy_timeout = 5000");
    for (let i = 0; i < 20; i++) {
      const [r] = db.pragma("wal_checkpoint(TRUNCATE)") as Array<{ busy: number }>;
      if (r?.busy === 0) break;
    }
  } finally {
    db.close();
  }
  return statSync(path).size;
}

/** Refusals the agent audited since `sinceMs`: rows, and the refusals counted in them. */
export function auditedRefusals(dbPath: string, sinceMs: number): { rows: number; refusals: number } {
  const db = new Database(dbPath, { readonly: true });
  try {
    return db
      .prepare(
        "SELECT COUNT(*) AS rows, COALESCE(SUM(count), 0) AS refusals FROM audit WHERE at >= ? AND ok = 0",
      )
      .get(sinceMs) as { rows: number; refusals: number };
  } finally {
    db.close();
  }
}
