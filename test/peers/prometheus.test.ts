// The shipped monitoring files against Debian's real Prometheus: promtool
// checks and unit-tests deploy/prometheus/alerts.yml; a Prometheus server
// scrapes the agent running a simulated site (miners, a site meter, two GPU
// nodes, a setpoint server, the MQTT link) and every metric name that
// alerts.yml and the Grafana dashboard use is among what it scraped; then the
// site meter dies and the meter-stale alert fires in that Prometheus.
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { startSimFromConfig } from "../../agent/cli/simulated-site.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { Site } from "../../agent/site/site.ts";
import { loadConfig } from "../../config/load.ts";
import type { GpuNodeSim } from "../../sim/gpu/server.ts";
import { type EmbeddedBroker, startEmbeddedBroker } from "../../sim/mqtt/broker.ts";
import { gpuNodesYaml, startGpuSims } from "../helpers/gpu-sims.ts";
import {
  ALERT_TESTS_FILE,
  ALERTS_FILE,
  alertRules,
  dashboardExprs,
  metricNames,
  PROMETHEUS_OWN,
} from "../helpers/monitoring.ts";
import { testPort, waitFor } from "../helpers/ports.ts";

const run = promisify(execFile);
const PROMTOOL = "/usr/bin/promtool";
const PROMETHEUS = "/usr/bin/prometheus";
const METER_STALE_S = 2;

describe("deploy/prometheus with promtool", () => {
  before(() => {
    if (!existsSync(PROMTOOL))
      throw new Error(
        "this suite needs Debian's prometheus package (apt-get install prometheus; .ci/run does)",
      );
  });

  test("promtool check rules: clean", async () => {
    const { stdout } = await run(PROMTOOL, ["check", "rules", ALERTS_FILE]);
    assert.match(stdout, /SUCCESS: \d+ rules found/);
  });

  test("promtool test rules: every alert fires on its series and stays quiet on the others", async () => {
    const { stdout } = await run(PROMTOOL, ["test", "rules", ALERT_TESTS_FILE]);
    assert.match(stdout, /SUCCESS/);
  });
});

describe("a real Prometheus scraping the agent on the simulated site", () => {
  let site: Site;
  let sim: Awaited<ReturnType<typeof startSimFromConfig>>;
  let broker: EmbeddedBroker;
  let gpus: GpuNodeSim[] = [];
  let prom: ChildProcess | null = null;
  let promUrl = "";
  let promLog = "";

  const api = async <T>(path: string): Promise<T> => {
    const r = await fetch(`${promUrl}${path}`, { signal: AbortSignal.timeout(5000) });
    const body = (await r.json()) as { status: string; data: T };
    assert.equal(body.status, "success", `${path}: ${JSON.stringify(body)}`);
    return body.data;
  };

  before(async () => {
    if (!existsSync(PROMETHEUS))
      throw new Error(
        "this suite needs Debian's prometheus package (apt-get install prometheus; .ci/run does)",
      );
    const dir = mkdtempSync(join(tmpdir(), "wk-prometheus-"));
    broker = await startEmbeddedBroker({ port: await testPort() });
    const base = `site: { id: prom-peer, timezone: UTC, contractLimitW: 400kW }
store: { path: ./state.db }
mqtt: { url: ${broker.url}, protocolVersion: 4 }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${await testPort()}", unitId: 1 }, timeoutMs: 300 }
miners:
  - { hosts: 127.102.0.1-127.102.0.20, dialect: luxos, location: container-a }
control: { tickS: 0.5, meterStaleS: ${METER_STALE_S}, failsafeBudgetW: 100kW }
signals:
  modbusServer: { name: qse, listen: "127.0.0.1:${await testPort()}", unitId: 1, allow: [127.0.0.1], staleS: 30s, onStale: release }
sim: { seed: 6, noiseW: 20, auxW: 2kW }
`;
    writeFileSync(join(dir, "sim.yaml"), base);
    sim = await startSimFromConfig((await loadConfig(join(dir, "sim.yaml"))).config, silentLogger());
    gpus = await startGpuSims(["gpu-a", "gpu-b"], { dir, model: sim.model });
    writeFileSync(join(dir, "site.yaml"), `${base}${gpuNodesYaml(gpus)}`);
    const { config } = await loadConfig(join(dir, "site.yaml"), { strictFiles: true });
    site = new Site(config, silentLogger(), {
      httpListen: { host: "127.0.0.1", port: 0 },
      minerPollMs: 500,
      meterPollMs: 250,
    });
    await site.start();
    await waitFor("miners hashing", () => site.snapshot().counts.hashing === 20, 30_000);
    // an event of each severity the dashboard's rate shows: a lease set and cleared
    site.setBudgetLease(
      { watts: 390_000, ttlS: 600, reason: "prometheus peer" },
      { via: "local", who: "test" },
    );
    site.clearBudgetLease({ via: "local", who: "test" });

    // Prometheus: 1 s scrapes and evaluations; the rules as shipped, with every `for` shortened
    // to 2 s (how long each waits is promtool's part above; here, that the rule sees the live series)
    const agent = `127.0.0.1:${site.httpAddress()!.port}`;
    const rules = readFileSync(ALERTS_FILE, "utf8").replace(/^(\s+for:) \S+$/gm, "$1 2s");
    writeFileSync(join(dir, "alerts.yml"), rules);
    writeFileSync(
      join(dir, "prometheus.yml"),
      `global: { scrape_interval: 1s, evaluation_interval: 1s }
rule_files: [alerts.yml]
scrape_configs:
  - job_name: wattkeeper
    static_configs:
      - targets: ["${agent}"]
        labels: { site: prom-peer }
`,
    );
    const promPort = await testPort();
    promUrl = `http://127.0.0.1:${promPort}`;
    prom = spawn(
      PROMETHEUS,
      [
        `--config.file=${join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(dir, "tsdb")}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    prom.stderr!.on("data", (d) => {
      promLog = `${promLog}${d}`.slice(-4000);
    });
    await waitFor(
      "Prometheus ready",
      async () => (await fetch(`${promUrl}/-/ready`).catch(() => null))?.status === 200,
      30_000,
      250,
    );
  });

  after(async () => {
    prom?.kill("SIGTERM");
    await site?.stop();
    await Promise.all(gpus.map((g) => g.stop()));
    await sim?.stop();
    await broker?.stop();
  });

  test("every metric alerts.yml and the dashboard use is in what Prometheus scraped", {
    timeout: 60_000,
  }, async () => {
    const used = new Set<string>();
    for (const r of alertRules()) for (const n of metricNames(r.expr)) used.add(n);
    for (const e of dashboardExprs()) for (const n of metricNames(e)) used.add(n);
    let missing: string[] = [];
    await waitFor(
      "every used metric scraped",
      async () => {
        const scraped = new Set(await api<string[]>("/api/v1/label/__name__/values"));
        missing = [...used].filter((n) => !scraped.has(n) && !PROMETHEUS_OWN.has(n));
        return missing.length === 0 && scraped.has("up");
      },
      30_000,
      500,
    ).catch(() => {
      assert.fail(`never scraped: ${missing.join(", ")}\n${promLog}`);
    });
    const up = await api<{ result: Array<{ value: [number, string] }> }>("/api/v1/query?query=up");
    assert.equal(up.result[0]?.value[1], "1");
    // and the values are the agent's: the site power Prometheus holds is the site's
    const q = await api<{ result: Array<{ value: [number, string] }> }>(
      "/api/v1/query?query=wattkeeper_site_power_watts",
    );
    const w = Number(q.result[0]?.value[1]);
    assert.ok(w > 10_000, `site power ${w} W`);
  });

  test("the site meter dies: WattkeeperMeterStale fires for it", { timeout: 60_000 }, async () => {
    type Alert = { labels: Record<string, string>; state: string };
    const stale = async () =>
      (await api<{ alerts: Alert[] }>("/api/v1/alerts")).alerts.find(
        (a) => a.labels.alertname === "WattkeeperMeterStale" && a.labels.id === "pcc",
      ) ?? null;
    assert.equal(await stale(), null, "stale before the meter died");
    const t0 = Date.now();
    await sim.meters.get("pcc")!.stop();
    await waitFor("the alert firing", async () => (await stale())?.state === "firing", 30_000, 500);
    const a = (await stale())!;
    assert.equal(a.labels.severity, "page");
    assert.equal(a.labels.role, "site");
    assert.equal(a.labels.site, "prom-peer");
    console.log(
      `meter stale alert firing ${((Date.now() - t0) / 1000).toFixed(1)} s after the meter stopped`,
    );
  });
});
