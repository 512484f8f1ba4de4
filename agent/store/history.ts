// Site power history for the status page chart: one row per 10 s bucket
// (site power, budget and the AI / mining / aux split, each the mean of the
// ticks in the bucket), kept 7 days in SQLite so the chart survives a restart.
// Reads downsample in SQL to a bounded number of points, so a week fits a
// phone's chart as well as the last ten minutes.
import { type Db, SqliteStore } from "./db.ts";

export const HISTORY_BUCKET_MS = 10_000;
export const HISTORY_KEEP_MS = 7 * 86_400_000;
/** The most points one read returns: about one per horizontal pixel of a phone's chart. */
const HISTORY_MAX_POINTS = 600;

export interface HistorySample {
  powerW: number | null;
  budgetW: number | null;
  aiW: number | null;
  miningW: number | null;
  auxW: number | null;
}

export interface HistoryPoint extends HistorySample {
  /** Epoch ms: the start of the (possibly merged) bucket. */
  at: number;
}

const FIELDS = ["powerW", "budgetW", "aiW", "miningW", "auxW"] as const;
const COLUMNS = ["power_w", "budget_w", "ai_w", "mining_w", "aux_w"] as const;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS history (
  at INTEGER PRIMARY KEY,
  power_w REAL,
  budget_w REAL,
  ai_w REAL,
  mining_w REAL,
  aux_w REAL
);
`;

/** Running sums for the bucket being filled: a mean per field over its non-null samples. */
interface Acc {
  at: number;
  sum: number[];
  n: number[];
}

export class History extends SqliteStore {
  private upsert: ReturnType<Db["prepare"]> | null = null;
  private acc: Acc | null = null;
  private lastPruneAt = 0;

  constructor(
    path: string,
    private readonly keepMs = HISTORY_KEEP_MS,
  ) {
    super(path, "history", SCHEMA);
  }

  protected override onOpen(db: Db): void {
    this.upsert = db.prepare(
      `INSERT OR REPLACE INTO history (at, ${COLUMNS.join(", ")}) VALUES (?, ?, ?, ?, ?, ?)`,
    );
  }

  protected override onClose(): void {
    if (this.acc) this.flush();
    this.upsert = null;
  }

  /** Adds one tick's values; a bucket is written when it fills and rewritten while it fills. */
  record(at: number, s: HistorySample): void {
    const bucket = at - (at % HISTORY_BUCKET_MS);
    if (this.acc && this.acc.at !== bucket) this.acc = null;
    if (!this.acc) this.acc = { at: bucket, sum: [0, 0, 0, 0, 0], n: [0, 0, 0, 0, 0] };
    const acc = this.acc;
    FIELDS.forEach((f, i) => {
      const v = s[f];
      if (v !== null && Number.isFinite(v)) {
        acc.sum[i]! += v;
        acc.n[i]! += 1;
      }
    });
    // the current bucket is upserted each tick: the chart's right edge is live, and a crash loses nothing
    this.flush();
    if (at - this.lastPruneAt > 3_600_000) {
      this.lastPruneAt = at;
      this.prune(at - this.keepMs);
    }
  }

  private flush(): void {
    const a = this.acc;
    if (!a || !this.upsert) return;
    const values = a.sum.map((s, i) => (a.n[i]! > 0 ? s / a.n[i]! : null));
    this.upsert.run([a.at, ...values]);
  }

  /**
   * The last `minutes`, oldest first, at most `maxPoints` points: buckets are
   * merged (mean) into steps of a whole number of 10 s buckets.
   */
  read(minutes: number, now = Date.now(), maxPoints = HISTORY_MAX_POINTS): HistoryPoint[] {
    const spanMs = minutes * 60_000;
    const since = now - spanMs;
    const buckets = Math.ceil(spanMs / HISTORY_BUCKET_MS);
    const stepMs = Math.max(1, Math.ceil(buckets / maxPoints)) * HISTORY_BUCKET_MS;
    const rows = this.db
      .prepare<[{ step: number; since: number }], Record<string, number | null>>(
        // JS numbers bind as REAL: cast, so that at / step is an integer division
        `SELECT (at / CAST(@step AS INTEGER)) * CAST(@step AS INTEGER) AS t, ${COLUMNS.map((c) => `AVG(${c}) AS ${c}`).join(", ")}
         FROM history WHERE at >= @since GROUP BY t ORDER BY t`,
      )
      .all({ step: stepMs, since: since - (since % stepMs) });
    return rows.map((r) => ({
      at: r.t as number,
      powerW: r.power_w ?? null,
      budgetW: r.budget_w ?? null,
      aiW: r.ai_w ?? null,
      miningW: r.mining_w ?? null,
      auxW: r.aux_w ?? null,
    }));
  }

  prune(before: number): number {
    return this.db.prepare("DELETE FROM history WHERE at < ?").run(before).changes;
  }
}
