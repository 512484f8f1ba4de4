// One measurement in a fresh process, so each figure (time and RSS) is the
// agent's alone: `bare` = connect, send the poll request, read to the NUL, no
// parsing; `agent` = the real read path (dialect driver → repair → parse →
// normalise) through the Poller; `scan` = `wattkeeper scan` over a range.
// Prints one JSON line.

import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { scanHosts } from "../agent/cli/scan.ts";
import { silentLogger } from "../agent/logger.ts";
import { Poller } from "../agent/poller.ts";
import { READ_COMMANDS } from "../drivers/cgminer/client.ts";
import { encodeRequest, exchange } from "../drivers/cgminer/framing.ts";
import { createMiner } from "../drivers/cgminer/miner.ts";
import type { MinerReading } from "../drivers/types.ts";

const [mode, hostsArg, sweepsArg, concurrencyArg] = process.argv.slice(2);
const hosts = hostsArg!.split(",");
const sweeps = Number(sweepsArg);
const concurrency = Number(concurrencyArg);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function bare(): Promise<{ ms: number; failed: number }> {
  const request = encodeRequest(READ_COMMANDS.join("+"));
  let failed = 0;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, hosts.length) }, async () => {
      while (next < hosts.length) {
        const host = hosts[next++]!;
        try {
          await exchange(host, 4028, request);
        } catch {
          failed++;
        }
      }
    }),
  );
  return { ms: performance.now() - t0, failed };
}

async function agent(onWarm: () => Promise<void>): Promise<{ times: number[]; failed: number }> {
  let failed = 0;
  const poller = new Poller<MinerReading>({
    name: "bench",
    targets: hosts.map((host, i) => {
      const miner = createMiner({ host, port: 4028 }, "auto");
      return { id: `m${i}`, read: (signal: AbortSignal) => miner.read(signal) };
    }),
    intervalMs: 60_000,
    concurrency,
    timeoutMs: 10_000,
    isFailure: (r) => r.state === "unreachable",
    onReading: (_id, r) => {
      if (r.state !== "hashing") failed++;
    },
    onError: () => failed++,
    logger: silentLogger(),
  });
  await poller.sweep(); // warm-up: dialect detection and JIT
  failed = 0;
  await onWarm();
  const times: number[] = [];
  for (let i = 0; i < sweeps; i++) times.push((await poller.sweep()).durationMs);
  await stopProfile();
  return { times, failed };
}

/**
 * `WATTKEEPER_BENCH_CPU_PROFILE=FILE`: a V8 CPU profile of the measured sweeps
 * only (not the warm-up's detection), for `--cpu-prof`-style analysis of the read path.
 */
const PROFILE_FILE = process.env.WATTKEEPER_BENCH_CPU_PROFILE;
const profiler = PROFILE_FILE ? new Session() : null;
async function startProfile(): Promise<void> {
  if (!profiler) return;
  profiler.connect();
  await profiler.post("Profiler.enable");
  await profiler.post("Profiler.start");
}
async function stopProfile(): Promise<void> {
  if (!profiler || !PROFILE_FILE) return;
  const { profile } = await profiler.post("Profiler.stop");
  writeFileSync(PROFILE_FILE, JSON.stringify(profile));
  profiler.disconnect();
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
  result = { ms: median(r.times), failed: r.failed, cpuMsPerSweep: cpuMsSince(cpu0) / sweeps };
} else {
  const t0 = performance.now();
  const found = await scanHosts(hosts, { port: 4028, concurrency, timeoutMs: 1500 });
  const dialects = Object.fromEntries(found.map((m) => [m.host, m.dialect ?? "?"]));
  result = { ms: performance.now() - t0, found: found.length, dialects };
}
const rssMiB = process.memoryUsage().rss / 2 ** 20;
process.stdout.write(`${JSON.stringify({ ...result, rssMiB })}\n`);
