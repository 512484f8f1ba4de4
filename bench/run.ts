// `npm run bench`: polls a simulated fleet of 100 / 1,000 / 5,000 miners and
// prints a table. The simulator runs in a child process (`wattkeeper sim`) so
// the figures are the agent's own. Each size is measured twice in the same run:
// a bare baseline (connect, send the same request, read to the NUL — no
// parsing) and the agent's real path (CgminerClient.read through the Poller:
// repair, parse, normalise), both at the same concurrency; the ratio is
// agent / baseline.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { parseArgs } from "node:util";
import { silentLogger } from "../agent/logger.ts";
import { Poller } from "../agent/poller.ts";
import { CgminerClient, READ_COMMANDS } from "../drivers/cgminer/client.ts";
import { encodeRequest, exchange } from "../drivers/cgminer/framing.ts";
import type { MinerReading } from "../drivers/types.ts";

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "100,1000,5000" },
    sweeps: { type: "string", default: "3" },
    concurrency: { type: "string", default: "256" },
  },
});
const SIZES = values.sizes.split(",").map(Number);
const SWEEPS = Number(values.sweeps);
const CONCURRENCY = Number(values.concurrency);
const BIN = new URL("../bin/wattkeeper.js", import.meta.url).pathname;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Starts `wattkeeper sim` with N miners from 127.60.0.1 and waits until it prints its config snippet. */
async function startSim(miners: number) {
  const child = spawn(
    process.execPath,
    [
      BIN,
      "sim",
      "--miners",
      String(miners),
      "--base-address",
      "127.60.0.1",
      "--meter-port",
      String(await freePort()),
    ],
    { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, WATTKEEPER_LOG_LEVEL: "warn" } },
  );
  let out = "";
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (d) => {
      out += d;
      if (out.includes("meters:")) resolve();
    });
    child.on("exit", (code) => reject(new Error(`sim exited early (${code})`)));
  });
  const hosts = Array.from({ length: miners }, (_, i) => addressAt(i));
  return {
    hosts,
    stop: async () => {
      child.kill("SIGTERM");
      await once(child, "exit");
    },
  };
}

/** Same allocation as the sim: from 127.60.0.1 upwards, skipping .0 and .255. */
function addressAt(i: number): string {
  let n = ((127 << 24) | (60 << 16) | 1) >>> 0;
  for (let k = 0; k < i; k++) {
    n++;
    while ((n & 0xff) === 0 || (n & 0xff) === 255) n++;
  }
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join(".");
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function baselineSweep(hosts: string[]): Promise<{ ms: number; failed: number; bytes: number }> {
  const request = encodeRequest(READ_COMMANDS.join("+"));
  let failed = 0;
  let bytes = 0;
  const t0 = performance.now();
  await pool(hosts, CONCURRENCY, async (host) => {
    try {
      const reply = await exchange(host, 4028, request);
      bytes += reply.length;
    } catch {
      failed++;
    }
  });
  return { ms: performance.now() - t0, failed, bytes };
}

async function agentSweeps(hosts: string[]) {
  let failed = 0;
  const poller = new Poller<MinerReading>({
    name: "bench",
    targets: hosts.map((host, i) => {
      const client = new CgminerClient({ host, port: 4028 });
      return { id: `m${i}`, read: (signal: AbortSignal) => client.read(signal) };
    }),
    intervalMs: 60_000,
    concurrency: CONCURRENCY,
    timeoutMs: 10_000,
    isFailure: (r) => r.state === "unreachable",
    onReading: (_id, r) => {
      if (r.state !== "hashing") failed++;
    },
    onError: () => failed++,
    logger: silentLogger(),
  });
  const times: number[] = [];
  for (let i = 0; i < SWEEPS; i++) times.push((await poller.sweep()).durationMs);
  return { ms: median(times), failed };
}

const rows: string[][] = [];
console.log(
  `wattkeeper bench — node ${process.version}, concurrency ${CONCURRENCY}, median of ${SWEEPS} sweeps`,
);
for (const size of SIZES) {
  const sim = await startSim(size);
  try {
    await baselineSweep(sim.hosts); // warm-up: JIT and the sim's first replies
    const base: number[] = [];
    let baseFailed = 0;
    let replyBytes = 0;
    for (let i = 0; i < SWEEPS; i++) {
      const b = await baselineSweep(sim.hosts);
      base.push(b.ms);
      baseFailed += b.failed;
      replyBytes = b.bytes;
    }
    const rssBefore = process.memoryUsage().rss;
    const agent = await agentSweeps(sim.hosts);
    const rssAfter = process.memoryUsage().rss;
    const baseMs = median(base);
    rows.push([
      String(size),
      baseMs.toFixed(0),
      agent.ms.toFixed(0),
      (agent.ms / baseMs).toFixed(2),
      ((size / agent.ms) * 1000).toFixed(0),
      (replyBytes / size / 1024).toFixed(1),
      ((rssAfter - rssBefore) / 2 ** 20).toFixed(1),
      (rssAfter / 2 ** 20).toFixed(0),
      `${baseFailed}/${agent.failed}`,
    ]);
  } finally {
    await sim.stop();
  }
}

const header = [
  "miners",
  "bare sweep ms",
  "agent sweep ms",
  "ratio",
  "miners/s",
  "reply KiB",
  "RSS Δ MiB",
  "RSS MiB",
  "failed (bare/agent)",
];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => c.padStart(widths[i]!)).join(" | ")} |`;
console.log(line(header));
console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
for (const r of rows) console.log(line(r));
