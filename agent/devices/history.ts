// Each device's recent power and hashrate, for the sparkline of the miner
// detail page: one sample a minute over the last hour, in memory (a float pair
// per device and sample: ~480 bytes a miner, under 10 MB at 20,000 miners). The
// site's own history (store/history.ts) is what survives a restart; this one
// is handed over on a reload and starts empty after a restart.

export interface DevicePoint {
  /** Epoch ms of the sample. */
  at: number;
  powerW: number | null;
  hashrateThs: number | null;
}

export interface DeviceSample {
  id: string;
  powerW: number | null;
  hashrateThs: number | null;
}

const DEVICE_HISTORY_EVERY_MS = 60_000;
const DEVICE_HISTORY_POINTS = 60;

export class DeviceHistory {
  /** Sample times, a ring; `next` is the slot the next sample takes. */
  private readonly times: number[];
  private next = 0;
  private count = 0;
  private lastAt = Number.NEGATIVE_INFINITY;
  /**
   * Every device's series in one buffer, a row per device: power then hashrate for each
   * slot (NaN = no value). One Float32Array per device cost 200 bytes of its own beside its
   * 480 of data: 4 MB at 20,000 miners.
   */
  private data: Float32Array;
  /** The row of each device; rows of devices dropped by keepOnly are taken again. */
  private readonly rows = new Map<string, number>();
  private readonly freeRows: number[] = [];
  private rowCount = 0;

  constructor(
    readonly everyMs: number = DEVICE_HISTORY_EVERY_MS,
    readonly points: number = DEVICE_HISTORY_POINTS,
  ) {
    this.times = new Array<number>(points).fill(0);
    this.data = new Float32Array(0);
  }

  /** Whether a sample is due at `now` (the caller then builds the samples and calls record). */
  due(now: number): boolean {
    return now - this.lastAt >= this.everyMs;
  }

  /** Records one sample of every device; a device absent from it has no value in that slot. */
  record(now: number, samples: Iterable<DeviceSample>): void {
    const slot = this.next;
    this.times[slot] = now;
    this.lastAt = now;
    const width = this.points * 2;
    // every row's slot empty first: a device absent from the samples has no value in it
    for (const row of this.rows.values()) {
      this.data[row * width + slot * 2] = Number.NaN;
      this.data[row * width + slot * 2 + 1] = Number.NaN;
    }
    for (const s of samples) {
      const at = this.rowOf(s.id) * width + slot * 2;
      this.data[at] = s.powerW ?? Number.NaN;
      this.data[at + 1] = s.hashrateThs ?? Number.NaN;
    }
    this.next = (slot + 1) % this.points;
    this.count = Math.min(this.points, this.count + 1);
  }

  /** Drops devices no longer configured (after a reload). */
  keepOnly(ids: ReadonlySet<string>): void {
    for (const [id, row] of this.rows) {
      if (ids.has(id)) continue;
      this.rows.delete(id);
      this.freeRows.push(row);
    }
  }

  /** One device's points, oldest first; empty when it was never sampled. */
  of(id: string): DevicePoint[] {
    const row = this.rows.get(id);
    if (row === undefined) return [];
    const base = row * this.points * 2;
    const out: DevicePoint[] = [];
    const first = (this.next - this.count + this.points) % this.points;
    for (let i = 0; i < this.count; i++) {
      const slot = (first + i) % this.points;
      const p = this.data[base + slot * 2]!;
      const h = this.data[base + slot * 2 + 1]!;
      out.push({
        at: this.times[slot]!,
        powerW: Number.isNaN(p) ? null : Math.round(p),
        hashrateThs: Number.isNaN(h) ? null : Number(h.toPrecision(4)),
      });
    }
    return out;
  }

  /** A device's row: a free one, else a new one (the buffer grows by half as devices come). */
  private rowOf(id: string): number {
    let row = this.rows.get(id);
    if (row !== undefined) return row;
    const width = this.points * 2;
    row = this.freeRows.pop();
    if (row === undefined) {
      row = this.rowCount++;
      if (this.rowCount * width > this.data.length) {
        const grown = new Float32Array(Math.max(64, Math.ceil(this.rowCount * 1.5)) * width);
        grown.set(this.data);
        this.data = grown;
      }
    }
    this.data.fill(Number.NaN, row * width, (row + 1) * width);
    this.rows.set(id, row);
    return row;
  }
}
