// `npm run soak -- --minutes N [--miners N]`: the agent (a real `wattkeeper run` child) on
// a simulated site of 5,000 miners, 1 % of them flapping (refusing, slow,
// garbage replies), 100 GPU nodes, and an MQTT broker (aedes, here) that is
// dropped and restored twice. Samples the agent's RSS and open file
// descriptors from /proc, its tick p99 from /api/site, its peak RSS after
// warm-up from the kernel's high-water mark (a sample every 30 s misses what a
// full GC holds for a few tens of ms), and counts the events the agent stored
// against the events a subscriber received (lost must be 0).
// Goal over 60 minutes: RSS growth < 10 MB after warm-up, no fd growth.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import mqtt from "mqtt";
import { AGENT_MALLOC_ENV, AGENT_NODE_FLAGS } from "../agent/runtime/heap.ts";
import { allocateAddresses, toRanges } from "../sim/addresses.ts";
import { startEmbeddedBroker } from "../sim/mqtt/broker.ts";
import { testPort } from "../test/helpers/ports.ts";
import { resultsDir } from "./results-dir.ts";
import { MINERS_PER_SIM } from "./sim-fleet.ts";
import {
  cpuShare,
  fdsGrowth,
  metricsSample,
  round1,
  rssGrowth,
  steadyTicks,
  type TickCounts,
} from "./soak-metrics.ts";
import { agentProcSample, peakRssMiB, resetPeakRss } from "./soak-proc.ts";
import { stopChildrenWithMe } from "./stop-children.ts";

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "60" },
    miners: { type: "string", default: "5000" },
    "gpu-nodes": { type: "string", default: "100" },
    "warmup-minutes": { type: "string", default: "3" },
    "drop-s": { type: "string", default: "60" },
    "sample-s": { type: "string", default: "30" },
    dist: { type: "boolean", default: false },
    // diagnosis: the agent writes a heap snapshot (into the state folder) at the end of
    // warm-up and before it stops, to diff what grew
    "heap-snapshots": { type: "boolean", default: false },
    // diagnosis: extra node flags for the agent only (e.g. "--max-semi-space-size=8")
    "agent-node-flags": { type: "string", default: "" },
    // the agent's miner poll period (polling.minersS); default: the agent's own (5 s)
    "miner-poll-s": { type: "string" },
  },
});
const MINUTES = Number(values.minutes);
const MINERS = Number(values.miners);
const GPU_NODES = Number(values["gpu-nodes"]);
const WARMUP_MS = Number(values["warmup-minutes"]) * 60_000;
const DROP_MS = Number(values["drop-s"]) * 1000;
const SAMPLE_MS = Number(values["sample-s"]) * 1000;
const SITE = "soak";
const EXT = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
const NODE_ARGS = EXT === ".ts" ? ["--import", "tsx"] : [];

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

const dir = mkdtempSync(join(tmpdir(), "wk-soak-"));
const [meterPort, httpPort, brokerPort] = [await testPort(), await testPort(), await testPort()];

// ---- the broker (aedes), which the soak drops and restores
const broker = await startEmbeddedBroker({ port: brokerPort });
const brokerUp = () => broker.resume();
const brokerDown = () => broker.interrupt();

// ---- a subscriber on the central side: counts events by id, and telemetry
const received = new Map<string, number>();
let telemetryMessages = 0;
let telemetryBytes = 0;
const sub = mqtt.connect(`mqtt://127.0.0.1:${brokerPort}`, {
  protocolVersion: 4,
  clientId: "soak-central",
  clean: false,
  reconnectPeriod: 1000,
});
sub.on("connect", () => sub.subscribe(`wattkeeper/v1/${SITE}/#`, { qos: 1 }));
sub.on("message", (topic, payload) => {
  if (topic.endsWith("/events")) {
    for (const e of eventIds(payload)) received.set(e, (received.get(e) ?? 0) + 1);
  } else if (topic.includes("/telemetry/")) {
    telemetryMessages++;
    telemetryBytes += payload.length;
  }
});
/** An events message holds one event or a batch; each carries the id the agent stored it under. */
function eventIds(payload: Buffer): string[] {
  try {
    const v = JSON.parse(payload.toString()) as unknown;
    const list = Array.isArray(v) ? v : ((v as { events?: unknown[] }).events ?? [v]);
    return list.map((e) => String((e as { id?: unknown }).id));
  } catch {
    return [];
  }
}

// ---- the simulated site, in child processes of at most MINERS_PER_SIM miners (a process
// cannot hold 20,000 listeners here); the first serves the GPU nodes and the site meter, so
// at more than one block the meter sees the first block only (the contract limit below is
// set so that nothing is curtailed either way)
const BASE = "127.100.0.1";
const allHosts = allocateAddresses(BASE, MINERS);
const blocks: string[][] = [];
for (let i = 0; i < allHosts.length; i += MINERS_PER_SIM) blocks.push(allHosts.slice(i, i + MINERS_PER_SIM));
const flapsBy = blocks.map(() => 0);
const flaps = () => flapsBy.reduce((a, b) => a + b, 0);
interface SimInfo {
  gpuPorts: number[];
  gpuFingerprint: string | null;
  gpuKeyFile: string;
}
const sims: ChildProcess[] = [];
const infos = await Promise.all(
  blocks.map((block, i) => {
    const child = spawn(
      process.execPath,
      [
        ...NODE_ARGS,
        new URL(`./soak-sim${EXT}`, import.meta.url).pathname,
        String(block.length),
        String(i === 0 ? GPU_NODES : 0),
        block[0]!,
        String(i === 0 ? meterPort : 0),
        dir,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    sims.push(child);
    return new Promise<SimInfo>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on("line", (line) => {
        const v = JSON.parse(line) as { ready?: boolean; flaps?: number };
        if (v.ready) resolve(v as never);
        if (typeof v.flaps === "number") flapsBy[i] = v.flaps;
      });
      child.on("exit", (code) => reject(new Error(`soak sim exited (${code})`)));
    });
  }),
);
// the GPU nodes and their key are the first block's
const simInfo = infos[0]!;

const dbPath = join(dir, "state.db");
const gpuLines = simInfo.gpuPorts
  .map(
    (p, i) =>
      `  - { id: gpu-${i}, host: 127.0.0.1, port: ${p}, user: wk, privateKeyFile: ${simInfo.gpuKeyFile}, hostKeySha256: "${simInfo.gpuFingerprint}", floorW: 350 }`,
  )
  .join("\n");
// The soak measures memory, fds, ticks and events, never the budget: nothing may be shed.
// With several sim blocks the meter sees the first block only, while the device reports
// cover all of them, and a single failed meter read makes the loop plan on those reports
// (the snapshot never presents a value the meter did not just give). So the contract limit
// covers the whole fleet's draw (at most 4.5 kW a miner), not the metered block's: a
// 20,000-miner soak with 20 MW saw a one-tick 63.8 MW estimate and an emergency shed.
const contractMW = blocks.length > 1 ? Math.ceil((MINERS * 4.5) / 1000) : 20;
const configFile = join(dir, "soak.yaml");
writeFileSync(
  configFile,
  `site: { id: ${SITE}, timezone: UTC, contractLimitW: ${contractMW}MW }
http: { listen: "127.0.0.1:${httpPort}" }
store: { path: ${dbPath} }
mqtt: { url: "mqtt://127.0.0.1:${brokerPort}", protocolVersion: 4 }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${meterPort}", unitId: 1 } }
miners:
  - { hosts: [${toRanges(allHosts).join(", ")}], dialect: auto }
${GPU_NODES > 0 ? `gpuNodes:\n${gpuLines}\n` : ""}control: { tickS: 2 }
${values["miner-poll-s"] ? `polling: { minersS: ${Number(values["miner-poll-s"])} }\n` : ""}`,
);

// from dist/ (npm run build) the agent runs compiled, as installed; --dist does the same from the sources
const entry =
  EXT === ".js"
    ? [new URL("../agent/entry.js", import.meta.url).pathname]
    : values.dist
      ? [new URL("../dist/agent/entry.js", import.meta.url).pathname]
      : [new URL("../bin/wattkeeper.js", import.meta.url).pathname];
const SNAPSHOTS = values["heap-snapshots"];
const agent: ChildProcess = spawn(
  process.execPath,
  [
    ...(SNAPSHOTS ? ["--heapsnapshot-signal=SIGUSR2"] : []),
    // as installed (the systemd unit, the Dockerfile), then what the command line adds
    ...AGENT_NODE_FLAGS,
    ...values["agent-node-flags"].split(" ").filter(Boolean),
    ...entry,
    "run",
    "--config",
    configFile,
  ],
  {
    cwd: dir,
    // the agent's log (warnings and up) in the state folder: the first place to look when it dies
    stdio: ["ignore", openSync(join(dir, "agent.log"), "a"), "inherit"],
    // the allocator as installed, unless this shell sets it for an experiment
    env: { ...AGENT_MALLOC_ENV, ...process.env, WATTKEEPER_LOG_LEVEL: "warn" },
  },
);
let agentExit: number | null = null;
agent.on("exit", (code, signal) => {
  agentExit = code ?? (signal ? 128 : 1);
});
stopChildrenWithMe(() => [agent, ...sims]);
let snapshotAtWarmup = SNAPSHOTS;
const pid = agent.pid!;

let peakResetAtWarmup: boolean | null = null;

async function siteJson(): Promise<Record<string, unknown> | null> {
  try {
    const r = await fetch(`http://127.0.0.1:${httpPort}/api/site`);
    return (await r.json()) as Record<string, unknown>;
  } catch {
    return null;
  }
}

interface Sample {
  minute: number;
  rssMiB: number;
  heapUsedMiB: number | null;
  heapTotalMiB: number | null;
  externalMiB: number | null;
  fds: number;
  tickMsP99: number | null;
  hashing: number | null;
  unreachable: number | null;
  broker: string;
  outbox: number | null;
}
const samples: Sample[] = [];
// the tick counts at the end of warm-up and at the last sample: the ticks in between are the
// steady state's (the first sweeps' detection of the whole fleet stays out of it)
let ticksAtWarmup: TickCounts | null = null;
let ticksLast: TickCounts | null = null;
// the agent's CPU (user + system) over the same steady state
let cpuAtWarmup: { s: number; at: number } | null = null;
let cpuLast: { s: number; at: number } | null = null;
const t0 = Date.now();
const endAt = t0 + MINUTES * 60_000;
const drops = [t0 + (endAt - t0) * 0.3, t0 + (endAt - t0) * 0.65];
const dropLog: string[] = [];
let down = false;
let downUntil = 0;

process.stderr.write(
  `soak: ${MINUTES} min, ${MINERS} miners, ${GPU_NODES} GPU nodes${values["miner-poll-s"] ? `, miners polled every ${values["miner-poll-s"]} s` : ""}; state in ${dir}\n`,
);
while (Date.now() < endAt) {
  const now = Date.now();
  if (!down && drops.length > 0 && now >= drops[0]!) {
    drops.shift();
    await brokerDown();
    down = true;
    downUntil = now + DROP_MS;
    dropLog.push(`broker down at ${((now - t0) / 60_000).toFixed(1)} min for ${DROP_MS / 1000} s`);
  }
  if (down && now >= downUntil) {
    await brokerUp();
    down = false;
  }
  if (snapshotAtWarmup && now - t0 >= WARMUP_MS) {
    snapshotAtWarmup = false;
    agent.kill("SIGUSR2");
  }
  if (agentExit !== null) {
    const log = readFileSync(join(dir, "agent.log"), "utf8").trim().split("\n").slice(-20).join("\n");
    process.stderr.write(
      `soak: the agent exited (${agentExit}) at ${((now - t0) / 60_000).toFixed(1)} min; its log:\n${log}\n`,
    );
    break;
  }
  const p = agentProcSample(pid);
  if (p === null) {
    await wait(500);
    continue;
  }
  const j = await siteJson();
  const counts = (j?.counts ?? {}) as { hashing?: number; unreachable?: number };
  const control = (j?.control ?? {}) as { tickMsP99?: number | null };
  const b = (j?.broker ?? null) as { connected?: boolean; outboxMessages?: number } | null;
  const { ticks, ...h } = await metricsSample(httpPort);
  if (ticks !== null) {
    if (ticksAtWarmup === null && now - t0 >= WARMUP_MS) ticksAtWarmup = ticks;
    ticksLast = ticks;
  }
  if (cpuAtWarmup === null && now - t0 >= WARMUP_MS) {
    cpuAtWarmup = { s: p.cpuS, at: now };
    peakResetAtWarmup = resetPeakRss(pid);
  }
  cpuLast = { s: p.cpuS, at: now };
  samples.push({
    minute: round1((now - t0) / 60_000),
    rssMiB: p.rssMiB,
    ...h,
    fds: p.fds,
    tickMsP99: control.tickMsP99 ?? null,
    hashing: counts.hashing ?? null,
    unreachable: counts.unreachable ?? null,
    broker: down ? "DOWN" : b === null ? "n/a" : b.connected ? "up" : "reconnecting",
    outbox: b?.outboxMessages ?? null,
  });
  process.stderr.write(`${JSON.stringify(samples.at(-1))}\n`);
  await wait(Math.min(SAMPLE_MS, Math.max(1000, (down ? downUntil : (drops[0] ?? endAt)) - Date.now())));
}
if (down) await brokerUp();
// let the outbox drain before counting
await wait(20_000);
// a run with heap snapshots has none: writing one holds about as much again for a moment
const rssPeak = peakResetAtWarmup && !SNAPSHOTS ? peakRssMiB(pid) : null;
if (SNAPSHOTS) {
  agent.kill("SIGUSR2");
  await wait(30_000);
}
agent.kill("SIGTERM");
const code = agentExit ?? ((await once(agent, "exit"))[0] as number | null);
await Promise.all(
  sims.map((sim) => {
    sim.removeAllListeners("exit");
    sim.kill("SIGTERM");
    return once(sim, "exit");
  }),
);
await new Promise((r) => sub.end(false, {}, r));
await broker.stop();

// ---- figures
const db = new Database(dbPath, { readonly: true });
const stored = (db.prepare("SELECT id FROM events WHERE at >= ?").all(t0) as { id: number }[]).map((r) =>
  String(r.id),
);
// events the agent emitted while stopping wait in its outbox for the next start: durable, not lost
const queued = new Set(
  (db.prepare("SELECT payload FROM outbox WHERE kind = 'event'").all() as { payload: Buffer }[]).flatMap(
    (r) => eventIds(Buffer.from(r.payload)),
  ),
);
db.close();
const missing = stored.filter((id) => !received.has(id));
const lost = missing.filter((id) => !queued.has(id)).length;
const duplicates = [...received.values()].filter((n) => n > 1).length;
const after = samples.filter((s) => s.minute * 60_000 >= WARMUP_MS);
const base = after[0] ?? samples[0]!;
const lastS = samples.at(-1)!;
const summary = {
  minutes: MINUTES,
  miners: MINERS,
  gpuNodes: GPU_NODES,
  flaps: flaps(),
  drops: dropLog,
  rssMiBAfterWarmup: base.rssMiB,
  rssMiBEnd: lastS.rssMiB,
  ...rssGrowth(after.map((s) => s.rssMiB)),
  rssMaxMiB: Math.max(...samples.map((s) => s.rssMiB)),
  // the most RSS held at any moment after warm-up, not only at a sample (null: not measurable)
  rssPeakMiBAfterWarmup: rssPeak,
  fdsAfterWarmup: base.fds,
  fdsEnd: lastS.fds,
  fdsMax: Math.max(...after.map((s) => s.fds)),
  ...fdsGrowth(after.map((s) => s.fds)),
  tickMsP99Max: Math.max(...samples.map((s) => s.tickMsP99 ?? 0)),
  ...steadyTicks(ticksAtWarmup, ticksLast),
  agentCpuPctAfterWarmup: cpuShare(cpuAtWarmup, cpuLast),
  eventsStored: stored.length,
  eventsReceived: received.size,
  eventsQueuedForNextStart: missing.length - lost,
  eventsLost: lost,
  eventsDuplicated: duplicates,
  telemetryMessages,
  telemetryMiB: round1(telemetryBytes / 2 ** 20),
  agentExit: code,
};
const out = resultsDir(import.meta.url);
mkdirSync(out, { recursive: true });
writeFileSync(join(out, "soak.json"), `${JSON.stringify({ summary, samples }, null, 2)}\n`);
console.table(
  samples.filter(
    (_, i) => i % Math.max(1, Math.floor(samples.length / 30)) === 0 || i === samples.length - 1,
  ),
);
console.log(JSON.stringify(summary, null, 2));
const ok = summary.rssGrowthMiB < 10 && summary.fdsGrowth <= 5 && lost === 0 && code === 0;
console.log(ok ? "PASS" : "FAIL");
process.exit(ok ? 0 : 1);
