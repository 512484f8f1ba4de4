// `npm run bench`: the simulated fleet (100 / 1,000 / 5,000 miners, served by
// `wattkeeper sim` in a child process) swept by a bare baseline and by the
// agent's real read path, each in a fresh process, same run, the same pool
// size (the bare loop keeps it full; the agent keeps as many reads in flight
// as its scheduled sweeps settle at, sweep-width.ts); then a scan of 5,000
// loopback hosts of which half are dead.
// Prints a table with the agent/bare ratio, each process's RSS and its CPU
// (user + system) per sweep. The agent runs with the poll tiers as an operator
// has them (most reads the summary alone, the detail every sixth poll, spread
// over the fleet); beside it, a sweep where every read is a full one (what a
// detail read costs), and a bare baseline that asks the summary alone.
// `--miners N` benches one fleet of N (e.g. 20,000): the sweep at N, and the
// planner and trigger benches at N miners.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { AGENT_GC_FLAGS, AGENT_MALLOC_ENV, AGENT_NODE_FLAGS } from "../agent/runtime/heap.ts";
import { DEFAULT_MINER_DETAIL_POLLS } from "../config/schema.ts";
import { CLI_DIALECTS, dialectBlock } from "../sim/cli.ts";
import { startSimFleet } from "./sim-fleet.ts";

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "100,1000,5000" },
    sweeps: { type: "string", default: "5" },
    concurrency: { type: "string", default: "256" },
    // the parts to run: sweep, scan, drivers (meters, GPU nodes, planner, triggers), telemetry
    only: { type: "string", default: "sweep,scan,drivers,telemetry" },
    // one fleet size for the sweep, the planner and the triggers (instead of --sizes)
    miners: { type: "string" },
    // rounds of each trigger bench (its own default: 10)
    rounds: { type: "string" },
    // the sweep's agent side without the installed node flags, malloc setting and heap growth
    // (as the bench ran it before the twelfth session), to compare
    "agent-uninstalled": { type: "boolean", default: false },
    // the sweep's agent side at the pool's size in every sweep (--concurrency reads in flight),
    // as a fleet that answers slowly makes the agent read, rather than at the width it settles at
    "agent-fixed-width": { type: "boolean", default: false },
    // bare and agent sides measured this many times, alternating (this machine's CPU per sweep
    // swings by a third from one process to the next); the row gives medians, and the CPU ratio
    // the median of each pair's ratio with their range
    pairs: { type: "string", default: "1" },
    // the sweep's agent side: its poll period (polling.minersS), which its width adapts to
    "poll-s": { type: "string", default: "5" },
  },
});
const PARTS = new Set(values.only.split(","));
const MINERS = values.miners === undefined ? null : Number(values.miners);
if (MINERS !== null && !(Number.isInteger(MINERS) && MINERS > 0)) throw new Error("--miners takes a count");
const PAIRS = Number(values.pairs);
if (!(Number.isInteger(PAIRS) && PAIRS > 0)) throw new Error("--pairs takes a count");
const SIZES = PARTS.has("sweep") ? (MINERS ? [MINERS] : values.sizes.split(",").map(Number)) : [];
const HOSTS_DIR = mkdtempSync(join(tmpdir(), "wk-bench-"));
// `npm run bench` runs the compiled tree (dist/), as an installed agent runs; from
// the sources (tsx) the children run through tsx too, which costs memory
const EXT = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
const NODE_ARGS = EXT === ".ts" ? ["--import", "tsx"] : [];
const CHILD = new URL(`./sweep-child${EXT}`, import.meta.url).pathname;

/** Same allocation as the sim: upwards from a base, skipping .0 and .255. */
function addresses(base: [number, number], count: number): string[] {
  const out: string[] = [];
  let n = ((127 << 24) | (base[0] << 16) | (base[1] << 8) | 1) >>> 0;
  while (out.length < count) {
    if ((n & 0xff) !== 0 && (n & 0xff) !== 255) {
      out.push([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join("."));
    }
    n++;
  }
  return out;
}

// biome-ignore lint/suspicious/noExplicitAny: one JSON line from the child: numbers, and the scan's dialect map
type Measured = Record<string, any>;

async function measure(
  mode: "bare" | "agent" | "scan",
  hosts: string[],
  variant: "full" | "summary" | "steady" | "detail" | "" = "",
): Promise<Measured> {
  // the host list goes in a file: 20,000 addresses are more than one argument may hold
  const hostsFile = join(HOSTS_DIR, `${mode}-${hosts.length}.txt`);
  writeFileSync(hostsFile, hosts.join("\n"));
  // the agent's read path runs as the agent is installed (systemd unit, image): its node flags,
  // its malloc setting and its GC flags; the bare loop runs on plain node
  const installed = mode === "agent" && !values["agent-uninstalled"];
  const child = spawn(
    process.execPath,
    [
      ...NODE_ARGS,
      // and the GC flags `wattkeeper run` sets at start-up, given as the same V8 flags
      ...(installed ? [...AGENT_NODE_FLAGS, ...AGENT_GC_FLAGS] : []),
      CHILD,
      mode,
      `@${hostsFile}`,
      values.sweeps,
      values.concurrency,
      variant,
      values["agent-fixed-width"] ? "fixed" : "adaptive",
      String(Number(values["poll-s"]) * 1000),
    ],
    {
      stdio: ["ignore", "pipe", "inherit"],
      env: installed ? { ...AGENT_MALLOC_ENV, ...process.env } : process.env,
    },
  );
  let out = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  const [code] = await once(child, "exit");
  if (code !== 0) throw new Error(`${mode} measurement failed (${code})`);
  return JSON.parse(out.trim().split("\n").at(-1)!);
}

function medianOf(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Each numeric field's median over the runs; `failed` summed. */
function medianMeasured(runs: Measured[]): Measured {
  const out: Measured = {};
  for (const key of ["ms", "rssMiB", "cpuMsPerSweep"]) out[key] = medianOf(runs.map((r) => r[key] as number));
  // the agent side's reads in flight (the width its sweeps settled at)
  if (runs[0]!.width !== undefined) out.width = medianOf(runs.map((r) => r.width as number));
  out.failed = runs.reduce((n, r) => n + (r.failed as number), 0);
  return out;
}

function printTable(header: string[], rows: string[][]) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padStart(widths[i]!)).join(" | ")} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const r of rows) console.log(line(r));
}

console.log(
  `wattkeeper bench — node ${process.version}, ${EXT === ".js" ? "compiled dist/" : "sources through tsx"}, concurrency ${values.concurrency}, median of ${values.sweeps} sweeps, each side in a fresh process${PAIRS > 1 ? `, ${PAIRS} bare/agent pairs (medians)` : ""}${values["agent-uninstalled"] ? ", the agent side on plain node" : ", the agent side with its installed node flags"}${values["agent-fixed-width"] ? ", at the pool's size in every sweep" : ""}`,
);
const rows: string[][] = [];
/** The sweep rows wait for fewer than this in TIME_WAIT (a 1,000-miner side leaves about 7,000, which costs nothing measurable). */
const SWEEP_QUIET_TW = 10_000;
for (const size of SIZES) {
  const hosts = addresses([60, 0], size);
  const stop = await startSimFleet(hosts);
  try {
    // each side starts on a quiet TIME_WAIT table: at 5,000 miners one side leaves 30,000-60,000
    // closed connections behind, and the next side's connects cost more under them (the agent,
    // measured second, paid about a fifth more CPU per sweep for it)
    const quiet = () => quietTcp(SWEEP_QUIET_TW);
    const bares: Measured[] = [];
    const agents: Measured[] = [];
    for (let i = 0; i < PAIRS; i++) {
      bares.push(await measure("bare", hosts, "full"));
      await quiet();
      agents.push(await measure("agent", hosts, "steady"));
      await quiet();
    }
    const bare = medianMeasured(bares);
    const agent = medianMeasured(agents);
    const cpuRatios = bares.map((b, i) => agents[i]!.cpuMsPerSweep! / b.cpuMsPerSweep!);
    const cpuRatio =
      PAIRS === 1
        ? cpuRatios[0]!.toFixed(2)
        : `${medianOf(cpuRatios).toFixed(2)} (${Math.min(...cpuRatios).toFixed(2)}–${Math.max(...cpuRatios).toFixed(2)})`;
    const bareSummary = await measure("bare", hosts, "summary");
    await quiet();
    const detail = await measure("agent", hosts, "detail");
    rows.push([
      String(size),
      bare.ms!.toFixed(0),
      agent.ms!.toFixed(0),
      (agent.ms! / bare.ms!).toFixed(2),
      ((size / agent.ms!) * 1000).toFixed(0),
      bare.rssMiB!.toFixed(0),
      agent.rssMiB!.toFixed(0),
      bare.cpuMsPerSweep!.toFixed(0),
      agent.cpuMsPerSweep!.toFixed(0),
      cpuRatio,
      bareSummary.cpuMsPerSweep!.toFixed(0),
      (agent.cpuMsPerSweep! / bareSummary.cpuMsPerSweep!).toFixed(2),
      detail.cpuMsPerSweep!.toFixed(0),
      (detail.cpuMsPerSweep! / bare.cpuMsPerSweep!).toFixed(2),
      `${agent.width}/${detail.width}`,
      `${bare.failed}/${agent.failed}/${detail.failed}`,
    ]);
  } finally {
    await stop();
  }
}
if (rows.length > 0)
  printTable(
    [
      "miners",
      "bare ms",
      "agent ms",
      "ratio",
      "miners/s",
      "bare RSS MiB",
      "agent RSS MiB",
      "bare CPU ms",
      "agent CPU ms",
      "CPU ratio",
      "bare summary CPU ms",
      "ratio to it",
      "detail sweep CPU ms",
      "detail CPU ratio",
      "agent/detail in flight",
      "failed bare/agent/detail",
    ],
    rows,
  );
if (rows.length > 0)
  console.log(
    `agent: the steady state (polling.minersS ${values["poll-s"]} s, minerDetailS ${Number(values["poll-s"]) * DEFAULT_MINER_DETAIL_POLLS} s: a sixth of the reads a full one, spread over the sweeps); CPU ratio: to the bare full poll (version+summary+pools+stats); ratio to it: to a bare summary-only poll; detail sweep: every read a full one, its ratio to the bare full poll; in flight: the agent's reads at a time after its sweeps' width settled (the bare loop keeps the pool's size)`,
  );

/** TCP connections in TIME_WAIT on this machine now (Linux; 0 where it cannot tell). */
function timeWaitCount(): number {
  try {
    const line = readFileSync("/proc/net/sockstat", "utf8").match(/^TCP:.*\btw (\d+)/m);
    return line ? Number(line[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Waits (at most 75 s: the kernel keeps one for 60) until the last scan's closed connections
 * have left TIME_WAIT. A scan leaves some 15,000-20,000 behind, and the next one's connects
 * slow down under them (4.3 s on a quiet table against 5.2-5.4 s under 75,000 here): each
 * timed scan starts as an operator's does, on a quiet gateway.
 */
async function quietTcp(atMost = 500): Promise<void> {
  const end = Date.now() + 75_000;
  while (timeWaitCount() > atMost && Date.now() < end) await new Promise((r) => setTimeout(r, 1000));
}

// scan: 5,000 hosts, the first 2,500 alive in every dialect the sim serves (a block of
// consecutive addresses each), the rest refuse (nothing listens there); each found must be
// detected as its own dialect. The simulator is a fresh process whose first answers run
// cold (its JIT warming up, which no real miner does): one untimed scan of its miners
// warms it first. Each timed scan is a fresh process, as an operator runs `wattkeeper
// scan`, cold start and thread start-up included; the median of SCAN_RUNS is reported.
const scanHosts = addresses([61, 0], 5000);
const SCAN_RUNS = 3;
const alive = scanHosts.slice(0, 2500);
const stop = PARTS.has("scan") ? await startSimFleet(alive, CLI_DIALECTS) : null;
if (stop)
  try {
    await measure("scan", alive);
    const runs: Measured[] = [];
    for (let i = 0; i < SCAN_RUNS; i++) {
      await quietTcp();
      runs.push(await measure("scan", scanHosts));
    }
    runs.sort((a, b) => a.ms - b.ms);
    const scan = runs[Math.floor(runs.length / 2)]!;
    const found = scan.dialects as Record<string, string>;
    const right = alive.filter((h, i) => found[h] === dialectBlock(CLI_DIALECTS, i, alive.length)).length;
    console.log("");
    printTable(
      [
        "scan hosts",
        "alive",
        "dialects",
        "found",
        "right dialect",
        "seconds (median)",
        "all runs",
        "RSS MiB",
      ],
      [
        [
          "5000",
          "2500",
          String(CLI_DIALECTS.length),
          String(scan.found),
          String(right),
          (scan.ms! / 1000).toFixed(1),
          runs.map((r) => (r.ms / 1000).toFixed(1)).join(" "),
          scan.rssMiB!.toFixed(0),
        ],
      ],
    );
  } finally {
    await stop();
  }

// the other drivers' and the planner's benches, each in its own process
const fleet = MINERS === null ? [] : ["--miners", String(MINERS)];
const rounds = values.rounds === undefined ? [] : ["--rounds", values.rounds];
const planned = (MINERS ?? 5000).toLocaleString("en-US");
const triggered = (MINERS ?? 1000).toLocaleString("en-US");
for (const [name, title, args] of [
  ["meters", "Modbus meters: 20 meters at 1 read/s", []],
  ["gpu", "GPU nodes: 100 simulated 8× H100 nodes", []],
  ["policy", `policy plan: ${planned} miners + 100 GPU nodes`, fleet],
  ["trigger", `trigger → last sleep delivered: ${triggered} LuxOS miners`, [...fleet, ...rounds]],
  [
    "trigger",
    `trigger → last sleep delivered: ${triggered} Braiins OS miners (one pause each)`,
    ["--dialect", "braiins", ...fleet, ...rounds],
  ],
  [
    "trigger",
    `QSE setpoint (Modbus TCP) → last sleep delivered: ${triggered} LuxOS miners`,
    ["--via", "modbus", ...fleet, ...rounds],
  ],
] as const) {
  if (!PARTS.has("drivers")) break;
  console.log(`\n${title}`);
  const child = spawn(
    process.execPath,
    [...NODE_ARGS, new URL(`./${name}${EXT}`, import.meta.url).pathname, ...args],
    {
      stdio: "inherit",
    },
  );
  const [code] = await once(child, "exit");
  if (code !== 0) throw new Error(`bench ${name} failed (${code})`);
}

// device telemetry by exception at 5,000 miners: steady bytes per miner per poll (goal ≤ 10),
// an hour offline replayed (goal ≤ 30 s, in order)
if (PARTS.has("telemetry")) {
  console.log("\ndevice telemetry by exception (telemetry/devices)");
  const child = spawn(
    process.execPath,
    [...NODE_ARGS, new URL(`./telemetry${EXT}`, import.meta.url).pathname],
    {
      stdio: "inherit",
    },
  );
  const [code] = await once(child, "exit");
  if (code !== 0) throw new Error(`bench telemetry failed (${code})`);
}
