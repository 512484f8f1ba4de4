// The durations of the last N control ticks (ms) in a ring, and their
// percentiles: /api/site reports p50/p99 without keeping every tick of a year.

export class TickTimes {
  private readonly ms: Float64Array;
  private next = 0;

  constructor(size = 1000) {
    this.ms = new Float64Array(size);
  }

  add(ms: number): void {
    this.ms[this.next++ % this.ms.length] = ms;
  }

  /** The q-quantile (0..1] of the kept durations, to 0.1 ms; null before the first tick. */
  quantiles(...qs: number[]): Array<number | null> {
    const n = Math.min(this.next, this.ms.length);
    if (n === 0) return qs.map(() => null);
    const sorted = this.ms.slice(0, n).sort();
    return qs.map((q) => Math.round(sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]! * 10) / 10);
  }
}
