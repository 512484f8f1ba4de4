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
  /** Per device: power then hashrate for each slot (NaN = no value). */
  private readonly series = new Map<string, Float32Array>();

  constructor(
    readonly everyMs: number = DEVICE_HISTORY_EVERY_MS,
    readonly points: number = DEVICE_HISTORY_POINTS,
  ) {
    this.times = new Array<number>(points).fill(0);
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
    const seen = new Set<string>();
    for (const s of samples) {
      let a = this.series.get(s.id);
      if (!a) {
        a = new Float32Array(this.points * 2).fill(Number.NaN);
        this.series.set(s.id, a);
      }
      a[slot * 2] = s.powerW ?? Number.NaN;
      a[slot * 2 + 1] = s.hashrateThs ?? Number.NaN;
      seen.add(s.id);
    }
    for (const [id, a] of this.series) {
      if (seen.has(id)) continue;
      a[slot * 2] = Number.NaN;
      a[slot * 2 + 1] = Number.NaN;
    }
    this.next = (slot + 1) % this.points;
    this.count = Math.min(this.points, this.count + 1);
  }

  /** Drops devices no longer configured (after a reload). */
  keepOnly(ids: ReadonlySet<string>): void {
    for (const id of this.series.keys()) if (!ids.has(id)) this.series.delete(id);
  }

  /** One device's points, oldest first; empty when it was never sampled. */
  of(id: string): DevicePoint[] {
    const a = this.series.get(id);
    if (!a) return [];
    const out: DevicePoint[] = [];
    const first = (this.next - this.count + this.points) % this.points;
    for (let i = 0; i < this.count; i++) {
      const slot = (first + i) % this.points;
      const p = a[slot * 2]!;
      const h = a[slot * 2 + 1]!;
      out.push({
        at: this.times[slot]!,
        powerW: Number.isNaN(p) ? null : Math.round(p),
        hashrateThs: Number.isNaN(h) ? null : Number(h.toPrecision(4)),
      });
    }
    return out;
  }
}
