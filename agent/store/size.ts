// The size of the agent's SQLite file on disk (the database, its WAL and the
// WAL index), exported as `wattkeeper_store_bytes` and checked against an
// alarm threshold: every table is bounded, so a file past the threshold means
// something is not, and a technician should hear of it before the disk fills.
// One alarm event when it crosses, one info event when it is back under 90 %.
// Checked on the site's clock (agent/site/retention.ts), not a timer of its own.
import { statSync } from "node:fs";
import { storeBytes as storeBytesGauge } from "../runtime/metrics.ts";
import type { NewSiteEvent } from "./events.ts";

/** The bounded tables together stay far below this (events 64 MiB, audit 32 MiB, outbox 64 MiB by default). */
const STORE_ALARM_BYTES = 512 * 2 ** 20;

/** Bytes on disk of an SQLite database: the file, its WAL and shared-memory index. */
export function storeBytes(path: string): number {
  let total = 0;
  for (const p of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      total += statSync(p).size;
    } catch {
      // no WAL yet, or an in-memory store: nothing on disk
    }
  }
  return total;
}

export interface StoreSizeOptions {
  path: string;
  alarmBytes?: number;
  emit: (e: NewSiteEvent) => void;
}

export class StoreSizeWatch {
  private alarmed = false;
  private last = 0;

  constructor(private readonly o: StoreSizeOptions) {}

  get bytes(): number {
    return this.last;
  }

  /** Measures, updates the gauge, and alarms on a crossing. Returns the size. */
  check(now: number = Date.now()): number {
    const bytes = storeBytes(this.o.path);
    this.last = bytes;
    storeBytesGauge.set(bytes);
    const limit = this.o.alarmBytes ?? STORE_ALARM_BYTES;
    const mib = (b: number) => (b / 2 ** 20).toFixed(1);
    if (!this.alarmed && bytes > limit) {
      this.alarmed = true;
      this.o.emit({
        at: now,
        kind: "store-large",
        severity: "alarm",
        message: `state database is ${mib(bytes)} MiB, over the ${mib(limit)} MiB alarm threshold: check disk space and what grows`,
        data: { bytes, alarmBytes: limit },
      });
    } else if (this.alarmed && bytes < limit * 0.9) {
      this.alarmed = false;
      this.o.emit({
        at: now,
        kind: "store-size-ok",
        severity: "info",
        message: `state database back to ${mib(bytes)} MiB (alarm threshold ${mib(limit)} MiB)`,
        data: { bytes, alarmBytes: limit },
      });
    }
    return bytes;
  }
}
