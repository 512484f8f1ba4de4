// The soak's reading of the agent's /metrics: its memory figures and its tick
// counts, and from two tick counts the steady state's share of ticks over 100 ms.

/** To one decimal, as the soak prints its figures. */
export const round1 = (x: number) => Math.round(x * 10) / 10;

/** Ticks so far, and those that took at most 100 ms (the tick histogram's 0.1 s bucket). */
export interface TickCounts {
  ticks: number;
  within100Ms: number;
}

/** The agent's own memory figures (prom-client defaults on /metrics), MiB, and its tick counts. */
export async function metricsSample(httpPort: number): Promise<{
  heapUsedMiB: number | null;
  heapTotalMiB: number | null;
  externalMiB: number | null;
  ticks: TickCounts | null;
}> {
  const value = (text: string, name: string): number | null => {
    const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
    return m ? Number(m[1]) : null;
  };
  const mib = (text: string, name: string): number | null => {
    const v = value(text, name);
    return v === null ? null : round1(v / 2 ** 20);
  };
  try {
    const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    const ticks = value(text, "wattkeeper_tick_duration_seconds_count");
    const within100Ms = value(text, 'wattkeeper_tick_duration_seconds_bucket\\{le="0\\.1"\\}');
    return {
      heapUsedMiB: mib(text, "nodejs_heap_size_used_bytes"),
      heapTotalMiB: mib(text, "nodejs_heap_size_total_bytes"),
      externalMiB: mib(text, "nodejs_external_memory_bytes"),
      ticks: ticks === null || within100Ms === null ? null : { ticks, within100Ms },
    };
  } catch {
    return { heapUsedMiB: null, heapTotalMiB: null, externalMiB: null, ticks: null };
  }
}

/**
 * The ticks after warm-up, and how many of them took over 100 ms: at most 1 % over means a
 * steady-state tick p99 of at most 100 ms, which /api/site's p99 (over the last 1,000 ticks,
 * warm-up included) cannot say.
 */
export function steadyTicks(from: TickCounts | null, to: TickCounts | null) {
  if (from === null || to === null)
    return { ticksAfterWarmup: null, ticksOver100MsAfterWarmup: null, ticksOver100MsAfterWarmupPct: null };
  const ticks = to.ticks - from.ticks;
  const over = ticks - (to.within100Ms - from.within100Ms);
  return {
    ticksAfterWarmup: ticks,
    ticksOver100MsAfterWarmup: over,
    ticksOver100MsAfterWarmupPct: ticks > 0 ? Math.round((over / ticks) * 1000) / 10 : null,
  };
}

/** The share of one core used between two CPU readings, %; null without two. */
export function cpuShare(from: { s: number; at: number } | null, to: { s: number; at: number } | null) {
  if (from === null || to === null || to.at <= from.at) return null;
  return Math.round(((to.s - from.s) / ((to.at - from.at) / 1000)) * 1000) / 10;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

/**
 * RSS saw-tooths with garbage collection (tens of MB at 5,000 miners): growth is judged on
 * windows, not single samples — the median and the floor (min) of the first and the last
 * fifth of the samples after warm-up.
 */
export function rssGrowth(rssMiB: number[]) {
  const win = Math.max(1, Math.floor(rssMiB.length / 5));
  const first = rssMiB.slice(0, win);
  const last = rssMiB.slice(-win);
  return {
    rssGrowthMiB: round1(median(last) - median(first)),
    rssFloorGrowthMiB: round1(Math.min(...last) - Math.min(...first)),
  };
}

/**
 * Open fds rise and fall with each sweep's sockets (a sample may catch up to the miner
 * concurrency in flight: 140–200 at 5,000 miners, 180–400 at 20,000). A leak raises both the
 * floor (samples between sweeps) and the median of a window; a sample that happens to fall in
 * a sweep raises only one of them (at 5,000 the floor is steady and the median is not; at
 * 20,000 the other way round). So growth is the smaller of the two, the first window against
 * the last, each a fifth of the samples after warm-up and at least three.
 */
export function fdsGrowth(fds: number[]) {
  const win = Math.min(fds.length, Math.max(3, Math.floor(fds.length / 5)));
  const first = fds.slice(0, win);
  const last = fds.slice(-win);
  const fdsFloorGrowth = Math.min(...last) - Math.min(...first);
  const fdsMedianGrowth = median(last) - median(first);
  return { fdsFloorGrowth, fdsMedianGrowth, fdsGrowth: Math.min(fdsFloorGrowth, fdsMedianGrowth) };
}
