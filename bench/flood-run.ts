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
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as mqttConnect } from "mqtt";
import { hashPassword } from "../agent/http/password.ts";
import { buildEnvelope, generateKeyPair, parsePrivateKey } from "../agent/mqtt/signing.ts";
import { storeBytes } from "../agent/store/size.ts";
import { startEmbeddedBroker } from "../sim/mqtt/broker.ts";
import { testPort } from "../test/helpers/ports.ts";
import { loadPage, metricValue, type PageLoad, siteView } from "./flood-client.ts";
import { auditedRefusals, checkpointedBytes, cpuMeter, fdsOf, listenOverflows } from "./flood-probes.ts";
import { FLOOD_SITE, startFloodAgent, startFloodSim, startFloodWorkers } from "./flood-procs.ts";
import { RefusedPosts, SseFlood, sleep, sourceAddresses } from "./flood-tools.ts";
import type { FloodOptions, FloodResult, FloodSample } from "./flood-types.ts";

/** Connections the agent refused, by reason, from its metrics. */
function refusedByReason(metricsText: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of ["total", "per-address", "evicted", "stalled"])
    out[r] = metricValue(metricsText, "wattkeeper_http_connections_refused_total", `reason="${r}"`) ?? 0;
  return out;
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
  const [meterPort, httpPort, brokerPort] = [await testPort(), await testPort(), await testPort()];
  const base = `http://127.0.0.1:${httpPort}`;
  const broker = await startEmbeddedBroker({ port: brokerPort });
  const sim = await startFloodSim({ miners: o.miners, meterPort }, children);

  // ---- the agent, at the open-file limit under test
  const keys = generateKeyPair();
  const key = parsePrivateKey(keys.privateKeyPem);
  const dbPath = join(dir, "state.db");
  const agent = startFloodAgent(
    {
      dir,
      miners: o.miners,
      nofile: o.agentNofile,
      ports: { http: httpPort, meter: meterPort, broker: brokerPort },
      passwordHash: await hashPassword("the-real-operator"),
      publicKeyPem: keys.publicKeyPem,
    },
    children,
  );
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
    const e = buildEnvelope(key, { siteId: FLOOD_SITE, name, keyName: "ops", body });
    await central.publishAsync(`wattkeeper/v1/${FLOOD_SITE}/request/${name}`, JSON.stringify(e), { qos: 1 });
  };
  const fullW = sim.powerW();
  const leaseW = Math.round(fullW * 0.6);
  /** From the command to the site's measured power at or under the lease. */
  const step = async (): Promise<number | null> => {
    const t0 = Date.now();
    await command("budget/set", { watts: leaseW, ttlS: 3600, reason: "flood bench step" });
    const end = t0 + 60_000;
    while (Date.now() < end) {
      const hit = sim.reachedAt(t0, leaseW);
      if (hit !== null) return hit - t0;
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
  while (
    Date.now() < backBy &&
    !(countsOf(await view())?.hashing === o.miners && sim.powerW() > fullW * 0.95)
  ) {
    await sleep(500);
  }

  // ---- the flood
  const dbBytesBefore = storeBytes(dbPath);
  const dbMainBefore = checkpointedBytes(dbPath);
  const workers = startFloodWorkers(
    {
      host: "127.0.0.1",
      port: httpPort,
      connections: o.connections,
      sources: sourceAddresses("127.77.0", o.sources),
      trickleMs: o.trickleMs,
      reopenMs: o.reopenMs,
      perWorker: o.perWorker,
    },
    children,
  );
  const sse = new SseFlood({
    base,
    streams: o.sseStreams,
    sources: sourceAddresses("127.78.0", o.sseSources),
  });
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
  const cpuPct = cpuMeter(pid);
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
      const readable = c !== null && c.unreachable === 0 && c.hashing + c.sleeping === o.miners;
      if (!readable) minersUnreadable++;
      const f = workers.stats();
      const overflows = listenOverflows();
      const lagS = metricValue(text, "nodejs_eventloop_lag_p99_seconds");
      samples.push({
        s: Math.round((now - t0) / 1000),
        agentFds: fds,
        httpConnections: metricValue(text, "wattkeeper_http_connections"),
        floodOpen: f.open,
        floodConnected: f.connected,
        refusedConnections: Object.values(refusedByReason(text)).reduce((a, b) => a + b, 0),
        sseOpen: sse.stats.open,
        postsSent: posts.stats.sent,
        hashing: c?.hashing ?? null,
        sleeping: c?.sleeping ?? null,
        unreachable: c?.unreachable ?? null,
        sitePowerKw: Math.round(sim.powerW() / 100) / 10,
        agentCpuPct: cpuPct(),
        loopLagP99Ms: lagS === null ? null : Math.round(lagS * 1000),
        listenOverflows: overflows === null || lastOverflows === null ? null : overflows - lastOverflows,
      });
      lastOverflows = listenOverflows();
      log(`flood: ${JSON.stringify(samples.at(-1))}`);
      continue;
    }
    await sleep(200);
  }
  const refusedConnections = refusedByReason(await metricsText());
  const dbBytesAfter = storeBytes(dbPath);
  const walBytesAtEnd = existsSync(`${dbPath}-wal`) ? statSync(`${dbPath}-wal`).size : 0;
  const dbMainAfter = checkpointedBytes(dbPath);

  // ---- the end of the flood
  posts.stop();
  sse.stop();
  await workers.stop();
  const flood = workers.stats();
  pageLoads.push({ s: Math.round((Date.now() - t0) / 1000), ...(await loadPage(base, nextProbe())) });
  await central.endAsync(true);
  agent.kill("SIGTERM");
  if (agentExit === null) await once(agent, "exit");
  sim.child.kill("SIGTERM");
  if (sim.child.exitCode === null) await once(sim.child, "exit");
  await broker.stop();

  const audit = auditedRefusals(dbPath, t0);
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
