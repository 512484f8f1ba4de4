// One flood run, for `npm run flood` (bench/flood.ts) and the short version in
// test/integration/http-flood.test.ts. The agent is a real `wattkeeper run`
// child under `prlimit --nofile=N` (its open-file limit is what is at stake);
// the simulated miners and meter run in another child (their sockets must not
// count against the agent's limit); the half-open connections come from
// worker processes (one process holds at most its own limit of sockets); the
// MQTT broker, the live-update streams, the refused POSTs and the page loads
// come from this process.
//
// Sequence: all miners hashing → a budget step without the flood (the usual
// shed time) → lease cleared, miners back → the flood starts → halfway through
// it, the same budget step → the flood ends. Sampled throughout from fresh
// addresses: the page loads, every miner readable, the agent's fds and the
// connections it holds; the state database measured before and after.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import {
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import Database from "better-sqlite3";
import { connect as mqttConnect } from "mqtt";
import { hashPassword } from "../agent/http/password.ts";
import { buildEnvelope, generateKeyPair, parsePrivateKey } from "../agent/mqtt/signing.ts";
import { storeBytes } from "../agent/store/size.ts";
import { startEmbeddedBroker } from "../sim/mqtt/broker.ts";
import {
  type HalfOpenOptions,
  type HalfOpenStats,
  loadPage,
  metricValue,
  type PageLoad,
  type RefusedPostStats,
  RefusedPosts,
  SseFlood,
  type SseFloodStats,
  siteView,
  sleep,
  sourceAddresses,
} from "./flood-tools.ts";

export interface FloodOptions {
  minutes: number;
  connections: number;
  /** Source addresses the half-open connections come from. */
  sources: number;
  sseStreams: number;
  sseSources: number;
  postsPerS: number;
  miners: number;
  /** The agent's open-file limit (the systemd unit sets 65536). */
  agentNofile: number;
  trickleMs: number;
  reopenMs: number;
  /** Half-open connections per worker process. */
  perWorker: number;
  sampleS: number;
  pageEveryS: number;
  /** Where the agent's log and state go (default: a new temporary folder). */
  dir?: string;
  log?: (line: string) => void;
}

export interface FloodSample {
  s: number;
  agentFds: number | null;
  httpConnections: number | null;
  floodOpen: number;
  floodConnected: number;
  refusedConnections: number | null;
  sseOpen: number;
  postsSent: number;
  hashing: number | null;
  sleeping: number | null;
  unreachable: number | null;
  sitePowerKw: number | null;
  agentCpuPct: number | null;
  /** The agent's event-loop delay (prom-client's default metrics), ms. */
  loopLagP99Ms: number | null;
  /** Connections the kernel dropped because a listen queue was full, since the last sample (whole host). */
  listenOverflows: number | null;
}

/** TcpExt ListenOverflows from /proc/net/netstat (host-wide), or null. */
function listenOverflows(): number | null {
  try {
    const lines = readFileSync("/proc/net/netstat", "utf8")
      .split("\n")
      .filter((l) => l.startsWith("TcpExt:"));
    const names = lines[0]!.split(/\s+/);
    const vals = lines[1]!.split(/\s+/);
    const i = names.indexOf("ListenOverflows");
    return i > 0 ? Number(vals[i]) : null;
  } catch {
    return null;
  }
}

export interface FloodResult {
  options: FloodOptions;
  dir: string;
  fdLimit: number | null;
  fdReserved: number | null;
  httpLimit: number | null;
  shedBaselineMs: number | null;
  shedFloodMs: number | null;
  leaseW: number;
  pageLoads: Array<{ s: number; ok: boolean; ms: number; detail?: Record<string, number | string> }>;
  samples: FloodSample[];
  /** Samples in which some miner was not readable (unreachable, or missing from the counts). */
  minersUnreadable: number;
  dbBytesBefore: number;
  dbBytesAfter: number;
  /** The database file's growth over the flood, the WAL checkpointed into it at both ends. */
  dbGrowthBytes: number;
  /** The WAL before the final checkpoint (a journal the agent reuses, not data). */
  walBytesAtEnd: number;
  auditRows: number;
  auditRefusals: number;
  flood: HalfOpenStats;
  sse: SseFloodStats;
  posts: RefusedPostStats;
  refusedConnections: Record<string, number>;
  agentFdsMax: number;
  agentExit: number | null;
}

const EXT = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
const NODE_ARGS = EXT === ".ts" ? ["--import", "tsx"] : [];
const SITE = "flood";

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}

function fdsOf(pid: number): number | null {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
}

function cpuTicks(pid: number): number | null {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return null;
  }
}

/**
 * The database file's size with everything in the WAL written into it (a
 * TRUNCATE checkpoint from this process, as SQLite allows beside the agent's
 * own connections): what the data takes, not where the journal happens to be
 * in its reuse cycle.
 */
function checkpointedBytes(path: string): number {
  const db = new Database(path);
  try {
    db.pragma("busy_timeout = 5000");
    for (let i = 0; i < 20; i++) {
      const [r] = db.pragma("wal_checkpoint(TRUNCATE)") as Array<{ busy: number }>;
      if (r?.busy === 0) break;
    }
  } finally {
    db.close();
  }
  return statSync(path).size;
}

export async function runFlood(o: FloodOptions): Promise<FloodResult> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), "wk-flood-"));
  const children: ChildProcess[] = [];
  const cleanup = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  };
  try {
    return await run(o, dir, log, children);
  } finally {
    cleanup();
  }
}

async function run(
  o: FloodOptions,
  dir: string,
  log: (line: string) => void,
  children: ChildProcess[],
): Promise<FloodResult> {
  const [meterPort, httpPort, brokerPort] = [await freePort(), await freePort(), await freePort()];
  const base = `http://127.0.0.1:${httpPort}`;
  const broker = await startEmbeddedBroker({ port: brokerPort });

  // ---- the simulated site, in its own process
  const sim = spawn(
    process.execPath,
    [
      ...NODE_ARGS,
      new URL(`./flood-sim${EXT}`, import.meta.url).pathname,
      String(o.miners),
      "127.66.0.1",
      String(meterPort),
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  children.push(sim);
  let powerW = 0;
  const power: Array<[number, number]> = [];
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: sim.stdout! }).on("line", (line) => {
      if (line === "ready") resolve();
      else if (line.startsWith("P ")) {
        const [, at, w] = line.split(" ");
        powerW = Number(w);
        power.push([Number(at), powerW]);
        if (power.length > 20_000) power.splice(0, 10_000);
      }
    });
    sim.on("exit", (code) => reject(new Error(`flood sim exited (${code})`)));
  });

  // ---- the agent's config: signed commands, one operator, the simulated miners
  const keys = generateKeyPair();
  writeFileSync(join(dir, "ops.pub.pem"), keys.publicKeyPem);
  const key = parsePrivateKey(keys.privateKeyPem);
  const hash = await hashPassword("the-real-operator");
  const dbPath = join(dir, "state.db");
  const configFile = join(dir, "flood.yaml");
  writeFileSync(
    configFile,
    `site: { id: ${SITE}, timezone: UTC, contractLimitW: 20MW }
http:
  listen: "127.0.0.1:${httpPort}"
  operators: [{ name: tech, passwordHash: "${hash}" }]
store: { path: ${dbPath} }
mqtt:
  url: mqtt://127.0.0.1:${brokerPort}
  protocolVersion: 4
  commandKeys: [{ name: ops, publicKeyFile: ${join(dir, "ops.pub.pem")} }]
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${meterPort}", unitId: 1 } }
miners:
  - { hosts: 127.66.0.1-${sourceAddresses("127.66.0", o.miners).at(-1)}, dialect: luxos }
control:
  tickS: 1
  shedMarginW: 2kW
  restoreMarginW: 6kW
  emergencyMarginW: 20kW
  minOnS: 1s
  minOffS: 1s
  rampUpWPerMin: 50MW
  restoreStaggerS: 0
  meterStaleS: 5
  unmeteredW: 10kW
  failsafeBudgetW: 10MW
`,
  );

  // ---- the agent, at the open-file limit under test
  const bin =
    EXT === ".js"
      ? new URL("../agent/entry.js", import.meta.url).pathname
      : new URL("../bin/wattkeeper.js", import.meta.url).pathname;
  const agent = spawn(
    "prlimit",
    [`--nofile=${o.agentNofile}:${o.agentNofile}`, process.execPath, bin, "run", "--config", configFile],
    {
      cwd: dir,
      stdio: ["ignore", openSync(join(dir, "agent.log"), "a"), "inherit"],
      env: { ...process.env, WATTKEEPER_LOG_LEVEL: "info" },
    },
  );
  children.push(agent);
  let agentExit: number | null = null;
  agent.on("exit", (code, signal) => {
    agentExit = code ?? (signal ? 128 : 1);
  });
  const pid = agent.pid!;
  const probe = sourceAddresses("127.79.0", 2000);
  let probeN = 0;
  const nextProbe = () => probe[probeN++ % probe.length]!;
  const view = () => siteView(base, nextProbe());
  const countsOf = (v: Record<string, unknown> | null) =>
    (v?.counts ?? null) as { hashing: number; sleeping: number; unreachable: number } | null;
  const deadline = Date.now() + 60_000 + o.miners * 20;
  for (;;) {
    if (agentExit !== null) throw new Error(`the agent exited (${agentExit}); see ${join(dir, "agent.log")}`);
    const c = countsOf(await view());
    if (c && c.hashing === o.miners) break;
    if (Date.now() > deadline) throw new Error(`miners not all hashing after start: ${JSON.stringify(c)}`);
    await sleep(500);
  }
  const metricsText = async () => {
    const r = await fetch(`${base}/metrics`).catch(() => null);
    return r ? r.text() : "";
  };
  const m0 = await metricsText();
  const fdLimit = metricValue(m0, "wattkeeper_fd_limit");
  const fdReserved = metricValue(m0, "wattkeeper_fd_reserved");
  const httpLimit = metricValue(m0, "wattkeeper_http_connection_limit");
  log(
    `flood: agent pid ${pid}, fd limit ${fdLimit}, kept for devices ${fdReserved}, HTTP cap ${httpLimit}; state in ${dir}`,
  );

  // ---- budget steps over MQTT, signed
  const central = mqttConnect(broker.url, {
    protocolVersion: 4,
    clientId: "flood-central",
    reconnectPeriod: 500,
  });
  await new Promise<void>((r) => central.once("connect", () => r()));
  const command = async (name: string, body: unknown) => {
    const e = buildEnvelope(key, { siteId: SITE, name, keyName: "ops", body });
    await central.publishAsync(`wattkeeper/v1/${SITE}/request/${name}`, JSON.stringify(e), { qos: 1 });
  };
  const fullW = powerW;
  const leaseW = Math.round(fullW * 0.6);
  /** From the command to the site's measured power at or under the lease. */
  const step = async (): Promise<number | null> => {
    const t0 = Date.now();
    await command("budget/set", { watts: leaseW, ttlS: 3600, reason: "flood bench step" });
    const end = t0 + 60_000;
    while (Date.now() < end) {
      const hit = power.find(([at, w]) => at >= t0 && w <= leaseW);
      if (hit) return hit[0] - t0;
      await sleep(50);
    }
    return null;
  };
  // the agent subscribes once its link is up: wait for it to answer a ping
  await sleep(2000);
  const shedBaselineMs = await step();
  log(`flood: baseline shed to ${(leaseW / 1000).toFixed(1)} kW landed in ${shedBaselineMs} ms`);
  await command("budget/clear", {});
  const backBy = Date.now() + 120_000;
  while (Date.now() < backBy && !(countsOf(await view())?.hashing === o.miners && powerW > fullW * 0.95)) {
    await sleep(500);
  }

  // ---- the flood
  const dbBytesBefore = storeBytes(dbPath);
  const dbMainBefore = checkpointedBytes(dbPath);
  const floodSources = sourceAddresses("127.77.0", o.sources);
  const workers: ChildProcess[] = [];
  const workerStats: HalfOpenStats[] = [];
  const nWorkers = Math.max(1, Math.ceil(o.connections / o.perWorker));
  for (let w = 0; w < nWorkers; w++) {
    const share = Math.min(o.perWorker, o.connections - w * o.perWorker);
    const opts: HalfOpenOptions = {
      host: "127.0.0.1",
      port: httpPort,
      connections: share,
      sources: floodSources.filter((_, i) => i % nWorkers === w),
      trickleMs: o.trickleMs,
      reopenMs: o.reopenMs,
      rampPerS: 4000 / nWorkers,
    };
    // the workers run at a lower priority: on a real LAN the attacker's CPU is its own, not
    // the gateway's; here they share two cores with the agent, which must not lose them to it
    const child = spawn(
      "nice",
      [
        "-n",
        "10",
        "prlimit",
        `--nofile=${share + 256}:${share + 256}`,
        process.execPath,
        ...NODE_ARGS,
        new URL(`./flood-worker${EXT}`, import.meta.url).pathname,
        JSON.stringify(opts),
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    children.push(child);
    workers.push(child);
    createInterface({ input: child.stdout! }).on("line", (line) => {
      try {
        workerStats[w] = JSON.parse(line) as HalfOpenStats;
      } catch {}
    });
  }
  const floodStats = (): HalfOpenStats => {
    const sum: HalfOpenStats = {
      target: 0,
      connected: 0,
      open: 0,
      maxOpen: 0,
      closedAtOnce: 0,
      closedWith408: 0,
      connectErrors: 0,
    };
    for (const s of workerStats) {
      if (!s) continue;
      for (const k of Object.keys(sum) as Array<keyof HalfOpenStats>) sum[k] += s[k];
    }
    return sum;
  };
  const sse = new SseFlood(base, o.sseStreams, sourceAddresses("127.78.0", o.sseSources));
  sse.start();
  const posts = new RefusedPosts(base, o.postsPerS, sourceAddresses("127.78.10", 4));
  posts.start();

  const t0 = Date.now();
  const floodMs = o.minutes * 60_000;
  const samples: FloodSample[] = [];
  const pageLoads: FloodResult["pageLoads"] = [];
  let shedFloodMs: number | null = null;
  let stepped = false;
  let nextSample = t0 + 2000;
  let nextPage = t0 + 5000;
  let lastCpu = cpuTicks(pid);
  let lastCpuAt = Date.now();
  let agentFdsMax = 0;
  let lastOverflows = listenOverflows();
  let minersUnreadable = 0;
  while (Date.now() - t0 < floodMs) {
    if (agentExit !== null) break;
    const now = Date.now();
    if (!stepped && now - t0 >= floodMs / 2) {
      stepped = true;
      shedFloodMs = await step();
      log(`flood: shed under the flood landed in ${shedFloodMs} ms`);
      continue;
    }
    if (now >= nextPage) {
      nextPage = now + o.pageEveryS * 1000;
      const p: PageLoad = await loadPage(base, nextProbe());
      pageLoads.push({
        s: Math.round((now - t0) / 1000),
        ok: p.ok,
        ms: p.ms,
        ...(p.ok && p.ms < 1000 ? {} : { detail: p.detail }),
      });
      continue;
    }
    if (now >= nextSample) {
      nextSample = now + o.sampleS * 1000;
      const v = await view();
      const c = countsOf(v);
      const text = await metricsText();
      const fds = fdsOf(pid);
      agentFdsMax = Math.max(agentFdsMax, fds ?? 0);
      const cpu = cpuTicks(pid);
      const cpuPct =
        cpu !== null && lastCpu !== null
          ? Math.round(((cpu - lastCpu) / 100 / ((Date.now() - lastCpuAt) / 1000)) * 100)
          : null;
      lastCpu = cpu;
      lastCpuAt = Date.now();
      const readable = c !== null && c.unreachable === 0 && c.hashing + c.sleeping === o.miners;
      if (!readable) minersUnreadable++;
      const f = floodStats();
      const refused = ["total", "per-address", "evicted", "stalled"]
        .map((r) => metricValue(text, "wattkeeper_http_connections_refused_total", `reason="${r}"`) ?? 0)
        .reduce((a, b) => a + b, 0);
      samples.push({
        s: Math.round((now - t0) / 1000),
        agentFds: fds,
        httpConnections: metricValue(text, "wattkeeper_http_connections"),
        floodOpen: f.open,
        floodConnected: f.connected,
        refusedConnections: refused,
        sseOpen: sse.stats.open,
        postsSent: posts.stats.sent,
        hashing: c?.hashing ?? null,
        sleeping: c?.sleeping ?? null,
        unreachable: c?.unreachable ?? null,
        sitePowerKw: Math.round(powerW / 100) / 10,
        agentCpuPct: cpuPct,
        loopLagP99Ms: ((v) => (v === null ? null : Math.round(v * 1000)))(
          metricValue(text, "nodejs_eventloop_lag_p99_seconds"),
        ),
        listenOverflows: ((n) => (n === null || lastOverflows === null ? null : n - lastOverflows))(
          listenOverflows(),
        ),
      });
      lastOverflows = listenOverflows();
      log(`flood: ${JSON.stringify(samples.at(-1))}`);
      continue;
    }
    await sleep(200);
  }
  const mEnd = await metricsText();
  const refusedConnections: Record<string, number> = {};
  for (const r of ["total", "per-address", "evicted", "stalled"]) {
    refusedConnections[r] =
      metricValue(mEnd, "wattkeeper_http_connections_refused_total", `reason="${r}"`) ?? 0;
  }
  const dbBytesAfter = storeBytes(dbPath);
  const walBytesAtEnd = existsSync(`${dbPath}-wal`) ? statSync(`${dbPath}-wal`).size : 0;
  const dbMainAfter = checkpointedBytes(dbPath);

  // ---- the end of the flood
  posts.stop();
  sse.stop();
  for (const w of workers) w.kill("SIGTERM");
  await Promise.all(workers.map((w) => (w.exitCode === null ? once(w, "exit") : null)));
  const flood = floodStats();
  pageLoads.push({ s: Math.round((Date.now() - t0) / 1000), ...(await loadPage(base, nextProbe())) });
  await central.endAsync(true);
  agent.kill("SIGTERM");
  if (agentExit === null) await once(agent, "exit");
  sim.kill("SIGTERM");
  if (sim.exitCode === null) await once(sim, "exit");
  await broker.stop();

  const db = new Database(dbPath, { readonly: true });
  const audit = db
    .prepare(
      "SELECT COUNT(*) AS rows, COALESCE(SUM(count), 0) AS refusals FROM audit WHERE at >= ? AND ok = 0",
    )
    .get(t0) as { rows: number; refusals: number };
  db.close();
  return {
    options: o,
    dir,
    fdLimit,
    fdReserved,
    httpLimit,
    shedBaselineMs,
    shedFloodMs,
    leaseW,
    pageLoads,
    samples,
    minersUnreadable,
    dbBytesBefore,
    dbBytesAfter,
    dbGrowthBytes: dbMainAfter - dbMainBefore,
    walBytesAtEnd,
    auditRows: audit.rows,
    auditRefusals: audit.refusals,
    flood,
    sse: sse.stats,
    posts: posts.stats,
    refusedConnections,
    agentFdsMax,
    agentExit,
  };
}
