// One measurement in a fresh process, so each figure (time and RSS) is the
// agent's alone: `bare` = connect, send the poll request, read to the NUL, no
// parsing (`full`: version+summary+pools+stats, `summary`: summary alone);
// `agent` = the real read path (dialect driver → repair → parse → normalise)
// through the Poller, with the poll tiers as an operator has them (`steady`:
// a sweep every 5 s (or the period given) of a clock the bench moves on, the detail every 6 polls,
// spread over the fleet) or every read a full one (`detail`), with as many
// reads in flight as the agent's scheduled sweeps keep once their width has
// settled (`fixed`: always the pool's size); `scan` = `wattkeeper scan` over
// a range. Prints one JSON line.

import { readFileSync } from "node:fs";
import { scanInThreads } from "../agent/cli/scan-threads.ts";
import { Poller } from "../agent/devices/poller.ts";
import { DEFAULT_MINER_POLL_MS, MIN_MINER_CONCURRENCY } from "../agent/devices/pollers.ts";
import { silentLogger } from "../agent/runtime/logger.ts";
import { DEFAULT_MINER_DETAIL_POLLS } from "../config/schema.ts";
import { READ_COMMANDS } from "../drivers/cgminer/client.ts";
import { encodeRequest, exchange } from "../drivers/cgminer/framing.ts";
import { createMiner } from "../drivers/cgminer/miner.ts";
import type { MinerReading } from "../drivers/types.ts";
import { type StopProfile, startCpuProfile } from "./profiles.ts";

const [mode, hostsArg, sweepsArg, concurrencyArg, variant, widthMode, periodArg] = process.argv.slice(2);
// `@FILE`: one address per line (a 20,000-host list is more than one argument may hold)
const hosts = hostsArg!.startsWith("@")
  ? readFileSync(hostsArg!.slice(1), "utf8").split("\n").filter(Boolean)
  : hostsArg!.split(",");
const sweeps = Number(sweepsArg);
const concurrency = Number(concurrencyArg);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function bare(): Promise<{ ms: number; failed: number }> {
  const request = encodeRequest(variant === "summary" ? "summary" : READ_COMMANDS.join("+"));
  let failed = 0;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, hosts.length) }, async () => {
      while (next < hosts.length) {
        const host = hosts[next++]!;
        try {
          await exchange({ host, port: 4028 }, request);
        } catch {
          failed++;
        }
      }
    }),
  );
  return { ms: performance.now() - t0, failed };
}

/** Sweeps before the measured ones at most, for the width to settle (256 narrows to 64 in five). */
const SETTLE_SWEEPS_MAX = 12;

async function agent(
  onWarm: () => Promise<void>,
): Promise<{ times: number[]; failed: number; widths: number[] }> {
  let failed = 0;
  // steady: the default tiers; detail: every read a full one
  const steady = variant !== "detail";
  // The agent's clock: real time within a sweep (its width adapts to how long reads really
  // queued), each sweep starting one poll period after the last, as the agent's do (the bench
  // runs them back to back), so each steady sweep has its share of the detail reads
  const periodMs = periodArg ? Number(periodArg) : DEFAULT_MINER_POLL_MS;
  const clockBase = Date.now();
  let offsetMs = 0;
  let sweepNo = 0;
  const now = () => Date.now() + offsetMs;
  const tiers = steady ? { detailEveryMs: periodMs * DEFAULT_MINER_DETAIL_POLLS, now } : { detailEveryMs: 0 };
  const poller = new Poller<MinerReading>({
    name: "bench",
    now,
    targets: hosts.map((host, i) => {
      const miner = createMiner({ host, port: 4028 }, "auto", tiers);
      return { id: `m${i}`, read: (signal: AbortSignal) => miner.read(signal) };
    }),
    intervalMs: periodMs,
    concurrency,
    // the width the agent keeps in flight (sweep-width.ts), or `fixed`: always the pool's size
    // (what a fleet that answers slowly makes the agent use)
    minConcurrency: widthMode === "fixed" ? undefined : MIN_MINER_CONCURRENCY,
    timeoutMs: 10_000,
    isFailure: (r) => r.state === "unreachable",
    onReading: (_id, r) => {
      if (r.state !== "hashing") failed++;
    },
    onError: () => failed++,
    logger: silentLogger(),
  });
  const scheduled = () => {
    offsetMs = clockBase + sweepNo++ * periodMs - Date.now();
    return poller.scheduledSweep();
  };
  await scheduled(); // warm-up at the pool's size, as the agent's first sweep: dialect detection and JIT
  for (let i = 0; i < SETTLE_SWEEPS_MAX; i++) {
    const before = poller.width;
    await scheduled();
    if (poller.width === before) break;
  }
  failed = 0;
  await onWarm();
  const times: number[] = [];
  const widths: number[] = [];
  for (let i = 0; i < sweeps; i++) {
    const t0 = performance.now();
    const stats = await scheduled();
    times.push(performance.now() - t0);
    widths.push(stats.inFlightMax);
  }
  await stopProfile();
  return { times, failed, widths };
}

/**
 * `WATTKEEPER_BENCH_CPU_PROFILE=FILE`: a V8 CPU profile of the measured sweeps
 * only (not the warm-up's detection), for `--cpu-prof`-style analysis of the read path.
 */
const PROFILE_FILE = process.env.WATTKEEPER_BENCH_CPU_PROFILE;
let stopCpuProfile: StopProfile | null = null;
async function startProfile(): Promise<void> {
  if (PROFILE_FILE) stopCpuProfile = await startCpuProfile();
}
async function stopProfile(): Promise<void> {
  if (PROFILE_FILE && stopCpuProfile) await stopCpuProfile(PROFILE_FILE);
}

/** CPU (user + system) this process spent, ms, since `from`. */
function cpuMsSince(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1000;
}

let result: Record<string, number | Record<string, string>>;
if (mode === "bare") {
  await bare(); // warm-up
  await startProfile();
  const runs: number[] = [];
  let failed = 0;
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < sweeps; i++) {
    const r = await bare();
    runs.push(r.ms);
    failed += r.failed;
  }
  await stopProfile();
  result = { ms: median(runs), failed, cpuMsPerSweep: cpuMsSince(cpu0) / sweeps };
} else if (mode === "agent") {
  // the agent's warm-up sweep (dialect detection) is inside agent(): CPU counts the measured ones
  let cpu0 = process.cpuUsage();
  const r = await agent(async () => {
    await startProfile();
    cpu0 = process.cpuUsage();
  });
  result = {
    ms: median(r.times),
    failed: r.failed,
    cpuMsPerSweep: cpuMsSince(cpu0) / sweeps,
    width: median(r.widths),
  };
} else {
  const t0 = performance.now();
  const found = await scanInThreads(hosts, { port: 4028, concurrency, timeoutMs: 1500 });
  const dialects = Object.fromEntries(found.map((m) => [m.host, m.dialect ?? "?"]));
  result = { ms: performance.now() - t0, found: found.length, dialects };
}
const rssMiB = process.memoryUsage().rss / 2 ** 20;
process.stdout.write(`${JSON.stringify({ ...result, rssMiB })}\n`);
