// deploy/: the Grafana dashboard is a well-formed dashboard of the schema
// version it declares, and the dashboard and the Prometheus alert rules use
// only metrics the agent exports. (promtool checks and unit-tests the rules in
// the peer suite, where Debian's prometheus package is installed.)
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { loadConfig } from "../../config/load.ts";
import {
  ALERTS_FILE,
  alertRules,
  DASHBOARD_FILE,
  dashboardExprs,
  exportableNames,
  metricNames,
  PROMETHEUS_OWN,
} from "../helpers/monitoring.ts";

const GRAFANA_DATASOURCE_VAR = ["$", "{datasource}"].join("");

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets: Array<{ refId: string; expr: string; datasource: { type: string; uid: string } }>;
  fieldConfig: { defaults: Record<string, unknown>; overrides: unknown[] };
}

const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, "utf8")) as {
  schemaVersion: number;
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query: unknown }> };
  annotations: { list: Array<{ name: string; datasource: unknown; expr?: string }> };
  time: { from: string; to: string };
};

describe("deploy/grafana/wattkeeper.json", () => {
  test("declares schema version 39 and has what that version requires", () => {
    // schemaVersion 39 (Grafana 10.3–11): panels at the top level, targets with refId,
    // templating.list and annotations.list, gridPos on a 24-column grid
    assert.equal(dashboard.schemaVersion, 39);
    for (const k of ["uid", "title", "panels", "templating", "annotations", "time"] as const) {
      assert.ok(k in dashboard, `missing ${k}`);
    }
    assert.match(dashboard.uid, /^[a-zA-Z0-9_-]{1,40}$/);
    assert.ok(Array.isArray(dashboard.templating.list) && Array.isArray(dashboard.annotations.list));
  });

  test("panels: unique ids, on the grid without overlapping, each query on the chosen data source", () => {
    const ids = new Set<number>();
    const cells = new Set<string>();
    const types = new Set(["timeseries", "stat", "gauge", "table", "bargauge", "text", "state-timeline"]);
    for (const p of dashboard.panels) {
      assert.ok(!ids.has(p.id), `panel id ${p.id} twice`);
      ids.add(p.id);
      assert.ok(types.has(p.type), `${p.title}: panel type ${p.type}`);
      const { x, y, w, h } = p.gridPos;
      assert.ok(
        x >= 0 && w > 0 && x + w <= 24 && h > 0 && y >= 0,
        `${p.title}: gridPos ${JSON.stringify(p.gridPos)}`,
      );
      for (let i = x; i < x + w; i++)
        for (let j = y; j < y + h; j++) {
          assert.ok(!cells.has(`${i},${j}`), `${p.title} overlaps another panel at ${i},${j}`);
          cells.add(`${i},${j}`);
        }
      // Grafana's own variable syntax, not a template string
      assert.deepEqual(p.datasource, { type: "prometheus", uid: GRAFANA_DATASOURCE_VAR }, p.title);
      assert.ok(p.targets.length > 0, `${p.title}: no query`);
      const refs = new Set(p.targets.map((t) => t.refId));
      assert.equal(refs.size, p.targets.length, `${p.title}: refIds not unique`);
      for (const t of p.targets) {
        assert.deepEqual(t.datasource, p.datasource, `${p.title}: target data source`);
        assert.ok(
          t.expr.includes('instance=~"$instance"'),
          `${p.title}: ${t.expr} ignores the gateway selector`,
        );
      }
    }
  });

  test("a Prometheus data source variable and a gateway selector", () => {
    const ds = dashboard.templating.list.find((v) => v.name === "datasource");
    assert.equal(ds?.type, "datasource");
    assert.equal(ds?.query, "prometheus");
    const inst = dashboard.templating.list.find((v) => v.name === "instance");
    assert.equal(inst?.type, "query");
  });

  test("every query uses only metrics the agent exports", async () => {
    const exported = await exportableNames();
    const exprs = dashboardExprs();
    assert.ok(exprs.length >= 15, `${exprs.length} expressions`);
    for (const e of exprs)
      for (const n of metricNames(e)) assert.ok(exported.has(n), `${n} (in ${e}) is not exported`);
  });
});

describe("deploy/prometheus/alerts.yml", () => {
  test("the alerts the issue names, each with for, severity, summary and runbook", () => {
    const rules = alertRules();
    const names = rules.map((r) => r.alert);
    for (const a of [
      "WattkeeperOverBudget",
      "WattkeeperMeterStale",
      "WattkeeperFailsafe",
      "WattkeeperLoopStalled",
      "WattkeeperBrokerDisconnected",
      "WattkeeperAiCapped",
      "WattkeeperMinersUnreachable",
      "WattkeeperGpuNodeFaulted",
      "WattkeeperGatewayDiskFull",
      "WattkeeperSignalStale",
    ])
      assert.ok(names.includes(a), `${a} missing from ${ALERTS_FILE}`);
    for (const r of rules) {
      assert.match(r.for ?? "", /^\d+[smh]$/, `${r.alert}: for`);
      assert.ok(["page", "ticket"].includes(r.labels?.severity ?? ""), `${r.alert}: severity`);
      assert.ok((r.annotations?.summary ?? "").length > 10, `${r.alert}: summary`);
      assert.ok((r.annotations?.runbook ?? "").length > 10, `${r.alert}: runbook`);
    }
  });

  test("every rule uses only metrics the agent exports (and Prometheus's own up)", async () => {
    const exported = await exportableNames();
    for (const r of alertRules())
      for (const n of metricNames(r.expr))
        assert.ok(exported.has(n) || PROMETHEUS_OWN.has(n), `${r.alert}: ${n} is not exported`);
  });
});

describe("deploy/docker-compose.yml's demo", () => {
  test("the agent's config is valid and turns Home Assistant discovery on", async () => {
    const { config } = await loadConfig(new URL("../../deploy/demo/site.yaml", import.meta.url).pathname);
    assert.equal(config.mqtt?.url, "mqtt://mosquitto:1883");
    assert.equal(config.exports?.homeAssistant?.discoveryPrefix, "homeassistant");
    assert.ok(config.sim, "the demo runs the embedded simulated site");
  });

  test("images pinned by version; the shipped rules and dashboard mounted", () => {
    const compose = readFileSync(new URL("../../deploy/docker-compose.yml", import.meta.url), "utf8");
    const images = [...compose.matchAll(/image:\s*(\S+)/g)].map((m) => m[1]!);
    for (const i of images.filter((i) => !i.startsWith("wattkeeper:")))
      assert.match(i, /:v?\d+\.\d+\.\d+$/, `${i} not pinned`);
    assert.match(compose, /\.\/prometheus\/alerts\.yml:/);
    assert.match(compose, /\.\/grafana\/wattkeeper\.json:/);
  });
});
