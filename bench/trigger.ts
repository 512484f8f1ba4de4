// Trigger → last sleep delivered: how long after a budget step the last of
// 1,000 (or --miners) simulated miners has received (and applied) its sleep command.
// LuxOS by default (a session per sleep: logon, curtail, logoff); --dialect braiins
// sleeps each miner with one `pause` on 4028.
// The simulator runs in a child process (bench/trigger-sim.ts) and stamps
// each sleep as it lands; the agent (real drivers, poller, ledger, loop) runs
// here, as installed: its node flags and malloc setting, its heap tuning and
// compactor, its log at info level written synchronously (to a file here).
// Each round starts a fresh Site on a fresh store with every miner hashing,
// then sets a 0 W lease, which needs every miner asleep.
// Baseline: the same 1,000 sleep commands sent by a bare loop (LuxOS logon,
// curtail, logoff, or Braiins pause; no ledger, no read-back) at the same concurrency.
// TRIGGER_DEBUG=1 adds per-miner quantiles, the baseline at once and the
// shed's progress every 5 s and the heap's growth from trigger to last sleep;
// TRIGGER_PROFILE=FILE a CPU profile per round; TRIGGER_ALLOC=FILE a sampled
// allocation profile per round, garbage included (what the shed allocates, not what it
// keeps); TRIGGER_HEAPSNAP=FILE heap snapshots before the trigger and halfway through
// the shed (first round).
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { writeHeapSnapshot } from "node:v8";
import modbusSerial from "modbus-serial";
import { pino } from "pino";
import { startCompactor } from "../agent/runtime/compactor.ts";
import { AGENT_MALLOC_ENV, AGENT_NODE_FLAGS, HeapBurst, tuneHeap } from "../agent/runtime/heap.ts";
import { createLogger, silentLogger } from "../agent/runtime/logger.ts";
import { Site } from "../agent/site/site.ts";
import { loadConfig } from "../config/load.ts";
import { allocateAddresses, toRanges } from "../sim/addresses.ts";
import { CHILD_FLEET_DIALECTS, type ChildFleetDialect, isChildFleetDialect } from "./child-fleet.ts";
import { startAllocationProfile, startCpuProfile } from "./profiles.ts";
import { MINERS_PER_SIM } from "./sim-fleet.ts";

const { values } = parseArgs({
  options: {
    miners: { type: "string", default: "1000" },
    rounds: { type: "string", default: "10" },
    concurrency: { type: "string", default: "256" },
    // the agent's miner poll period: at 20,000 miners a 5 s sweep keeps a core busy
    "poll-s": { type: "string", default: "5" },
    // lease: a budget lease set in-process; modbus: a QSE setpoint written to the agent's
    // Modbus TCP server by a real client (the CLR path, the Modbus hop included)
    via: { type: "string", default: "lease" },
    dialect: { type: "string", default: "luxos" },
    // the agent runs here; by default this process re-runs itself with the node flags and
    // malloc setting the agent is installed with (systemd unit, image), then tunes its heap
    // as `wattkeeper run` does
    "agent-uninstalled": { type: "boolean", default: false },
    // the agent's log, at its level (info unless WATTKEEPER_LOG_LEVEL says otherwise), as JSON
    // lines written as `wattkeeper run` writes stdout (synchronously): into this file, by default
    // agent.log in each round's state folder; "none": no log (until the twenty-fifth session the
    // bench ran the agent without one, and a line per action cost a 20,000-miner shed 1.1 s)
    "agent-log": { type: "string" },
  },
});
if (!values["agent-uninstalled"] && !process.env.WK_TRIGGER_INSTALLED) {
  const child = spawn(
    process.execPath,
    [...process.execArgv, ...AGENT_NODE_FLAGS, ...process.argv.slice(1)],
    { stdio: "inherit", env: { ...AGENT_MALLOC_ENV, ...process.env, WK_TRIGGER_INSTALLED: "1" } },
  );
  const [code] = await once(child, "exit");
  process.exit(code ?? 1);
}
if (values.via !== "lease" && values.via !== "modbus") throw new Error("--via is lease or modbus");
const VIA = values.via;
const agentLogger = (dir: string) => {
  const file = values["agent-log"] ?? join(dir, "agent.log");
  return file !== "none"
    ? createLogger({
        destination: pino.destination({
          dest: file,
          sync: true,
          append: true,
        }),
      })
    : silentLogger();
};
// as `wattkeeper run` starts the agent: its GC flags, and the heap's way through a shed
const heapBurst = values["agent-uninstalled"] ? undefined : HeapBurst.after(tuneHeap());
// and its compactor (a full GC in V8's memory-saving mode every 30 s), which can fall in a shed
const compactor = values["agent-uninstalled"] ? null : startCompactor();
if (!isChildFleetDialect(values.dialect))
  throw new Error(`--dialect is ${CHILD_FLEET_DIALECTS.join(" or ")}`);
const DIALECT: ChildFleetDialect = values.dialect;
const N = Number(values.miners);
const ROUNDS = Number(values.rounds);
const CONCURRENCY = Number(values.concurrency);
const POLL_MS = Number(values["poll-s"]) * 1000;
const BASE = "127.65.0.1";
const EXT = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
const NODE_ARGS = EXT === ".ts" ? ["--import", "tsx"] : [];
const meterPort = 21_000 + Math.floor(Math.random() * 2000);
const qsePort = meterPort + 2500;
const hosts = allocateAddresses(BASE, N);

// the simulated fleet: one child per block of MINERS_PER_SIM (a process cannot hold 20,000
// listeners here). One block serves the site meter; a fleet split over several processes has
// no one power model a meter could read, so there the loop runs on the miners' own sum
// (powerSource "estimate"), as a site without a meter does.
const blocks: string[][] = [];
for (let i = 0; i < hosts.length; i += MINERS_PER_SIM) blocks.push(hosts.slice(i, i + MINERS_PER_SIM));
const METERED = blocks.length === 1;
const sleeps: number[] = [];
let resetsSeen = 0;
let onReset: (() => void) | null = null;
const children = await Promise.all(
  blocks.map(async (block, i) => {
    const child = spawn(
      process.execPath,
      [
        ...NODE_ARGS,
        new URL(`./trigger-sim${EXT}`, import.meta.url).pathname,
        String(block.length),
        block[0]!,
        String(METERED && i === 0 ? meterPort : 0),
        DIALECT,
      ],
      { stdio: ["pipe", "pipe", "inherit"] },
    );
    await new Promise<void>((ready, failed) => {
      child.once("exit", (code) => failed(new Error(`trigger sim exited (${code})`)));
      createInterface({ input: child.stdout }).on("line", (line) => {
        if (line === "ready") ready();
        else if (line === "reset") {
          if (++resetsSeen === blocks.length) onReset?.();
        } else if (line.startsWith("S ")) sleeps.push(Number(line.split(" ")[2]));
      });
    });
    child.removeAllListeners("exit");
    return child;
  }),
);

async function reset(): Promise<void> {
  resetsSeen = 0;
  const done = new Promise<void>((r) => {
    onReset = r;
  });
  for (const child of children) child.stdin.write("reset\n");
  await done;
  sleeps.length = 0;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

async function waitUntil(
  what: string,
  probe: () => boolean,
  timeoutMs: number,
  state: () => string = () => "",
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} ${state()}`.trim());
    await new Promise((r) => setTimeout(r, 20));
  }
}

// exactly the simulator's addresses: one range from the first to the last would take in the
// .0 and .255 it skips (156 hosts more at 20,000, none of them answering)
const ranges = toRanges(hosts);
// over what the whole fleet draws (sim miners draw up to ~4 kW): nothing is shed before the trigger
const CONTRACT_KW = Math.max(10_000, N * 5);

let agentRounds = 0;
async function agentRound(): Promise<{ lastMs: number; medianMs: number; planMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), "wk-trigger-"));
  writeFileSync(
    join(dir, "site.yaml"),
    `site: { id: trigger, timezone: UTC, contractLimitW: ${CONTRACT_KW}kW }
store: { path: ./state.db }
${
  METERED
    ? `meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${meterPort}", unitId: 1 } }`
    : "meters: []"
}
miners:
  - { hosts: [${ranges.join(", ")}], dialect: ${DIALECT} }
control: { tickS: 1, minOnS: 0, minOffS: 0, shedMarginW: 1kW, restoreMarginW: 2kW, emergencyMarginW: 5kW }
${
  VIA === "modbus"
    ? `signals:
  modbusServer: { listen: "127.0.0.1:${qsePort}", allow: [127.0.0.1], staleS: 600 }
`
    : ""
}`,
  );
  const { config } = await loadConfig(join(dir, "site.yaml"));
  const site = new Site(config, agentLogger(dir), {
    httpListen: null,
    minerPollMs: POLL_MS,
    minerConcurrency: CONCURRENCY,
    ...(heapBurst ? { heapBurst } : {}),
  });
  await site.start();
  try {
    await waitUntil(
      "every miner read",
      () => site.snapshot().counts.hashing === N,
      60_000,
      () => JSON.stringify(site.snapshot().counts),
    );
    const source = METERED ? "meter" : "estimate";
    await waitUntil(`the ${source}`, () => site.snapshot().powerSource === source, 10_000);
    await new Promise((r) => setTimeout(r, 300));
    sleeps.length = 0;
    const rtu = VIA === "modbus" ? await qseClient() : null;
    // TRIGGER_PROFILE, TRIGGER_ALLOC: the agent from trigger to last sleep, per round
    const round = ++agentRounds;
    const profiler = process.env.TRIGGER_PROFILE ? await startCpuProfile(200) : null;
    const allocs = process.env.TRIGGER_ALLOC ? await startAllocationProfile() : null;
    const heap0 = process.memoryUsage();
    // TRIGGER_HEAPSNAP=FILE: the agent's heap before the trigger and halfway through the shed
    const snapFile = process.env.TRIGGER_HEAPSNAP;
    if (snapFile) writeHeapSnapshot(`${snapFile}.before.heapsnapshot`);
    let snapped = !snapFile;
    const t0 = Date.now();
    if (rtu) await rtu.writeRegisters(0, [0, 0, 1, 1]);
    else site.setBudgetLease({ watts: 0, ttlS: 600, reason: "bench: everything off" });
    // TRIGGER_DEBUG: the shed's progress every 5 s (how fast it goes when it is slow)
    const progress = process.env.TRIGGER_DEBUG
      ? setInterval(() => {
          const counts = JSON.stringify(site.snapshot().counts);
          process.stderr.write(
            `+${Date.now() - t0} ms: ${sleeps.length} of ${N} delivered; site ${counts}\n`,
          );
        }, 5000)
      : null;
    try {
      await waitUntil(
        "every sleep delivered",
        () => {
          if (!snapped && sleeps.length >= N / 2) {
            snapped = true;
            writeHeapSnapshot(`${snapFile}.mid.heapsnapshot`);
          }
          return sleeps.length >= N;
        },
        60_000,
        () => `${sleeps.length} of ${N} delivered; site: ${JSON.stringify(site.snapshot().counts)}`,
      );
    } finally {
      if (progress) clearInterval(progress);
      // a round that times out still leaves its profile: the slow case is the one to read
      if (profiler) await profiler(`${process.env.TRIGGER_PROFILE}.${round}.cpuprofile`);
      if (allocs) await allocs(`${process.env.TRIGGER_ALLOC}.${round}.heapprofile`);
    }
    const rel = sleeps.map((t) => t - t0);
    if (process.env.TRIGGER_DEBUG) {
      const h = process.memoryUsage();
      process.stderr.write(
        `heapUsed ${(heap0.heapUsed / 2 ** 20).toFixed(0)} -> ${(h.heapUsed / 2 ** 20).toFixed(0)} MiB, rss ${(heap0.rss / 2 ** 20).toFixed(0)} -> ${(h.rss / 2 ** 20).toFixed(0)}\n`,
      );
      const qs = [0.1, 0.5, 0.9, 0.95, 0.98, 0.99, 0.995, 1].map((q) => `${q}:${quantile(rel, q)}`);
      process.stderr.write(`per-miner ${qs.join(" ")}\n`);
    }
    if (rtu) await new Promise<void>((r) => rtu.close(() => r()));
    return { lastMs: Math.max(...rel), medianMs: quantile(rel, 0.5), planMs: 0 };
  } finally {
    await site.stop();
  }
}

/** The QSE's RTU: a Modbus TCP client connected before the clock starts, as an RTU stays connected. */
async function qseClient() {
  const c = new modbusSerial.default();
  c.setTimeout(5000);
  await c.connectTCP("127.0.0.1", { port: qsePort });
  c.setID(1);
  return c;
}

/** One command on one connection, as the bare baseline sends it. */
function cgminerCommand(host: string, command: string, parameter?: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ host, port: 4028 });
    let buf = "";
    sock.setTimeout(10_000, () => sock.destroy(new Error("timeout")));
    sock.on("connect", () =>
      sock.end(JSON.stringify(parameter === undefined ? { command } : { command, parameter })),
    );
    sock.on("data", (d) => {
      buf += d;
    });
    sock.on("error", reject);
    sock.on("close", () => {
      try {
        resolve(JSON.parse(buf.replace(/\0/g, "")) as Record<string, unknown>);
      } catch (err) {
        reject(err);
      }
    });
  });
}

/** The bare baseline's sleep: LuxOS logon → curtail sleep → logoff, or Braiins pause; nothing else. */
async function bareSleep(host: string): Promise<void> {
  if (DIALECT === "braiins") {
    await cgminerCommand(host, "pause");
    return;
  }
  const logon = (await cgminerCommand(host, "logon")) as { SESSION?: { SessionID?: string }[] };
  const sid = logon.SESSION?.[0]?.SessionID ?? "";
  await cgminerCommand(host, "curtail", `${sid},sleep`);
  await cgminerCommand(host, "logoff", sid);
}

async function bareRound(): Promise<{ lastMs: number; medianMs: number }> {
  sleeps.length = 0;
  const t0 = Date.now();
  let next = 0;
  const worker = async () => {
    while (next < hosts.length) {
      const host = hosts[next++]!;
      await bareSleep(host);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, hosts.length) }, worker));
  await waitUntil("every sleep delivered", () => sleeps.length >= N, 30_000);
  const rel = sleeps.map((t) => t - t0);
  return { lastMs: Math.max(...rel), medianMs: quantile(rel, 0.5) };
}

const agent: number[] = [];
const agentMedian: number[] = [];
const bare: number[] = [];
try {
  for (let i = 0; i < ROUNDS; i++) {
    await reset();
    const b = await bareRound();
    // said at once: an agent round that fails still leaves the baseline's figure
    if (process.env.TRIGGER_DEBUG)
      process.stderr.write(`bare: last ${b.lastMs} ms, median miner ${b.medianMs} ms\n`);
    bare.push(b.lastMs);
    await reset();
    const a = await agentRound();
    agent.push(a.lastMs);
    agentMedian.push(a.medianMs);
    process.stderr.write(`round ${i + 1}/${ROUNDS}: agent last ${a.lastMs} ms, bare last ${b.lastMs} ms\n`);
  }
} finally {
  compactor?.stop();
  await Promise.all(
    children.map((child) => {
      child.kill("SIGTERM");
      return once(child, "exit");
    }),
  );
}

const row = (name: string, xs: number[]) =>
  `| ${name.padEnd(28)} | ${String(quantile(xs, 0.5)).padStart(6)} | ${String(quantile(xs, 0.99)).padStart(6)} | ${String(Math.max(...xs)).padStart(6)} |`;
console.log(
  `${VIA === "modbus" ? "setpoint written (Modbus TCP)" : "trigger"} → last sleep delivered, ${N} ${DIALECT === "luxos" ? "LuxOS" : "Braiins OS"} miners, ${ROUNDS} rounds, concurrency ${CONCURRENCY} (sim in a child process)`,
);
console.log(`| ${"".padEnd(28)} | p50 ms | p99 ms | max ms |`);
console.log(`|${"-".repeat(30)}|--------|--------|--------|`);
console.log(row(VIA === "modbus" ? "agent (0 kW setpoint, Modbus)" : "agent (0 W lease → loop)", agent));
console.log(row("agent, median miner", agentMedian));
console.log(row(DIALECT === "luxos" ? "bare (logon/curtail/logoff)" : "bare (pause)", bare));
console.log(`ratio agent/bare (p99): ${(quantile(agent, 0.99) / quantile(bare, 0.99)).toFixed(2)}`);
