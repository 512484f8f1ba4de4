// The audit log: every operator or remote command and its outcome — who
// (operator name, MQTT key name), through what (http, mqtt, cli), what was
// asked, accepted or refused and why. Refusals are audited too: a forged
// command is exactly what an auditor wants to see.
import { SqliteStore } from "./db.ts";

export const AUDIT_CHANNELS = ["http", "mqtt", "cli", "local", "modbus", "openadr"] as const;
export type AuditChannel = (typeof AUDIT_CHANNELS)[number];

export interface AuditEntry {
  id: number;
  at: number;
  via: AuditChannel;
  /** Operator name or command key name; "anonymous" when unknown (a refused command). */
  who: string;
  /** Command or action name: "budget/set", "device/action", "login", … */
  action: string;
  /** The request as received (secrets never included). */
  body: unknown;
  ok: boolean;
  error: string | null;
  /** A command id or similar, to tie the entry to its response. */
  ref: string | null;
}

export type NewAuditEntry = Omit<AuditEntry, "id" | "error" | "ref"> & {
  error?: string | null;
  ref?: string | null;
};

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
  ref TEXT
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
`;

/** Audit bodies are bounded: a refused oversized command is recorded, not stored whole. */
const MAX_BODY_CHARS = 4096;

export class AuditLog extends SqliteStore {
  constructor(path: string) {
    super(path, "audit log", SCHEMA);
  }

  append(e: NewAuditEntry): AuditEntry {
    let body: string | null = e.body === undefined ? null : JSON.stringify(e.body);
    if (body !== null && body.length > MAX_BODY_CHARS) {
      body = JSON.stringify({ truncated: true, chars: body.length, head: body.slice(0, 256) });
    }
    const r = this.db
      .prepare(
        "INSERT INTO audit (at, via, who, action, body, ok, error, ref) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      )
      .run(e.at, e.via, e.who, e.action, body, e.ok ? 1 : 0, e.error ?? null, e.ref ?? null);
    return { ...e, id: Number(r.lastInsertRowid), error: e.error ?? null, ref: e.ref ?? null };
  }

  /** Newest first. */
  recent(limit = 100): AuditEntry[] {
    return this.db
      .prepare<[number], Row>("SELECT * FROM audit ORDER BY id DESC LIMIT ?")
      .all(limit)
      .map((r) => ({
        id: r.id,
        at: r.at,
        via: r.via,
        who: r.who,
        action: r.action,
        body: r.body === null ? null : (JSON.parse(r.body) as unknown),
        ok: r.ok === 1,
        error: r.error,
        ref: r.ref,
      }));
  }

  prune(before: number): number {
    return this.db.prepare("DELETE FROM audit WHERE at < ?").run(before).changes;
  }
}
