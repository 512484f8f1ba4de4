// Operator settings that must survive a restart: the control mode (auto /
// hold), the devices excluded for maintenance, with who set them, when, and
// until when ("maintenance until 16:00": the end is kept with the exclusion,
// so a restart in between still ends it on time), and the locates the agent
// must end (a LED left blinking by a restart is turned off when its time is
// up, not forgotten on). A technician who puts a rack in maintenance expects
// it to stay there after a power cut, not to be shed and woken by the next
// agent that boots.
import { type Db, SqliteStore } from "./db.ts";

export type ControlModeSetting = "auto" | "hold";

/** A remote budget lease, kept so that a restart during a demand-response event keeps honouring it. */
export interface StoredLease {
  watts: number;
  expiresAt: number;
  reason: string;
}

export interface Exclusion {
  deviceId: string;
  by: string;
  at: number;
  reason: string | null;
  /** When it ends by itself (epoch ms); null = until an operator includes the device again. */
  until: number | null;
}

/** A locate the agent turns off at `endsAt` (the firmware would not). */
export interface StoredLocate {
  deviceId: string;
  endsAt: number;
  by: string;
  seconds: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL, by TEXT, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS exclusions (device_id TEXT PRIMARY KEY, by TEXT NOT NULL, at INTEGER NOT NULL, reason TEXT, until_at INTEGER);
CREATE TABLE IF NOT EXISTS locates (device_id TEXT PRIMARY KEY, ends_at INTEGER NOT NULL, by TEXT NOT NULL, seconds INTEGER NOT NULL);
`;

export class Settings extends SqliteStore {
  private excludedCache = new Map<string, Exclusion>();
  private modeCache: ControlModeSetting = "auto";

  constructor(path: string) {
    super(path, "settings store", SCHEMA);
  }

  protected override onOpen(db: Db): void {
    // files from before exclusions could end by themselves
    const cols = new Set((db.pragma("table_info(exclusions)") as { name: string }[]).map((c) => c.name));
    if (!cols.has("until_at")) db.exec("ALTER TABLE exclusions ADD COLUMN until_at INTEGER");
    const mode = db.prepare<[], { value: string }>("SELECT value FROM settings WHERE key = 'mode'").get();
    this.modeCache = mode?.value === "hold" ? "hold" : "auto";
    for (const r of db
      .prepare<
        [],
        { device_id: string; by: string; at: number; reason: string | null; until_at: number | null }
      >("SELECT * FROM exclusions")
      .all()) {
      this.excludedCache.set(r.device_id, {
        deviceId: r.device_id,
        by: r.by,
        at: r.at,
        reason: r.reason,
        until: r.until_at,
      });
    }
  }

  /** The lease in force, or null (an expired one is returned as is: the budget ignores it). */
  get lease(): StoredLease | null {
    const row = this.db
      .prepare<[], { value: string }>("SELECT value FROM settings WHERE key = 'lease'")
      .get();
    if (!row) return null;
    try {
      const v = JSON.parse(row.value) as StoredLease;
      return typeof v.watts === "number" && typeof v.expiresAt === "number" ? v : null;
    } catch {
      return null;
    }
  }

  setLease(lease: StoredLease | null, by: string, at: number = Date.now()): void {
    if (lease === null) {
      this.db.prepare("DELETE FROM settings WHERE key = 'lease'").run();
      return;
    }
    this.put("lease", JSON.stringify(lease), { by, at });
  }

  /** Stores a setting with who set it (`by`) and when (`at`, epoch ms). */
  private put(key: string, value: string, { by, at }: { by: string; at: number }): void {
    this.db
      .prepare(
        "INSERT INTO settings (key, value, by, at) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, by = excluded.by, at = excluded.at",
      )
      .run(key, value, by, at);
  }

  get mode(): ControlModeSetting {
    return this.modeCache;
  }

  setMode(mode: ControlModeSetting, by: string, at: number = Date.now()): void {
    this.put("mode", mode, { by, at });
    this.modeCache = mode;
  }

  /** Read on every tick: answered from memory. An exclusion past its end no longer holds, swept or not. */
  isExcluded(deviceId: string, now?: number): boolean {
    // most sites exclude nothing: then no lookup at all (the plan view asks for every miner)
    if (this.excludedCache.size === 0) return false;
    const e = this.excludedCache.get(deviceId);
    // the clock only for an exclusion with an end: this runs per miner, per view
    return e !== undefined && (e.until === null || e.until > (now ?? Date.now()));
  }

  exclusion(deviceId: string): Exclusion | null {
    return this.excludedCache.get(deviceId) ?? null;
  }

  exclusions(): Exclusion[] {
    return [...this.excludedCache.values()];
  }

  /** Excludes a device from control: by whom, why, since `at` and until `until` (null: until included again). */
  exclude(
    deviceId: string,
    {
      by,
      reason,
      at = Date.now(),
      until = null,
    }: { by: string; reason: string | null; at?: number; until?: number | null },
  ): void {
    this.db
      .prepare(
        "INSERT INTO exclusions (device_id, by, at, reason, until_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET by = excluded.by, at = excluded.at, reason = excluded.reason, until_at = excluded.until_at",
      )
      .run(deviceId, by, at, reason, until);
    this.excludedCache.set(deviceId, { deviceId, by, at, reason, until });
  }

  /** Removes the exclusions whose end has come, and returns them (each ends once). */
  expire(now: number = Date.now()): Exclusion[] {
    const ended = [...this.excludedCache.values()].filter((e) => e.until !== null && e.until <= now);
    if (ended.length === 0) return [];
    const del = this.db.prepare("DELETE FROM exclusions WHERE device_id = ? AND until_at = ?");
    this.db.transaction(() => {
      for (const e of ended) del.run(e.deviceId, e.until);
    })();
    for (const e of ended) this.excludedCache.delete(e.deviceId);
    return ended;
  }

  /** The locates waiting for the agent to end them. */
  locates(): StoredLocate[] {
    return this.db
      .prepare<[], { device_id: string; ends_at: number; by: string; seconds: number }>(
        "SELECT * FROM locates ORDER BY ends_at",
      )
      .all()
      .map((r) => ({ deviceId: r.device_id, endsAt: r.ends_at, by: r.by, seconds: r.seconds }));
  }

  saveLocate(l: StoredLocate): void {
    this.db
      .prepare(
        "INSERT INTO locates (device_id, ends_at, by, seconds) VALUES (?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET ends_at = excluded.ends_at, by = excluded.by, seconds = excluded.seconds",
      )
      .run(l.deviceId, l.endsAt, l.by, l.seconds);
  }

  removeLocate(deviceId: string): void {
    this.db.prepare("DELETE FROM locates WHERE device_id = ?").run(deviceId);
  }

  include(deviceId: string): boolean {
    const had = this.excludedCache.delete(deviceId);
    this.db.prepare("DELETE FROM exclusions WHERE device_id = ?").run(deviceId);
    return had;
  }
}
