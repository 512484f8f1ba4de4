// The metric names the shipped monitoring files use (deploy/prometheus/alerts.yml,
// deploy/grafana/wattkeeper.json), and the names the agent can export, for the
// tests that hold the two against each other.
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { SCRAPE_GAUGE_NAMES } from "../../agent/http/prometheus.ts";
import { registry } from "../../agent/runtime/metrics.ts";

export const ALERTS_FILE = new URL("../../deploy/prometheus/alerts.yml", import.meta.url).pathname;
export const ALERT_TESTS_FILE = new URL("../../deploy/prometheus/alerts.test.yml", import.meta.url).pathname;
export const DASHBOARD_FILE = new URL("../../deploy/grafana/wattkeeper.json", import.meta.url).pathname;

/** Metrics Prometheus itself makes for every target; rules may use them. */
export const PROMETHEUS_OWN = new Set(["up"]);

/** The metric names in a PromQL expression: the agent's (wattkeeper_…) and Prometheus's own. */
export function metricNames(expr: string): string[] {
  const names = new Set<string>();
  for (const m of expr.matchAll(/\b(wattkeeper_[a-z0-9_]+)\b/g)) names.add(m[1]!);
  for (const own of PROMETHEUS_OWN) if (new RegExp(`\\b${own}\\s*\\{`).test(expr)) names.add(own);
  return [...names];
}

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export function alertRules(): AlertRule[] {
  const doc = parse(readFileSync(ALERTS_FILE, "utf8")) as { groups: Array<{ rules: AlertRule[] }> };
  return doc.groups.flatMap((g) => g.rules);
}

/** Every PromQL expression in the dashboard: panel targets, variables, annotations. */
export function dashboardExprs(): string[] {
  const out: string[] = [];
  const walk = (v: unknown, key: string | null): void => {
    if (typeof v === "string") {
      if (key === "expr" || key === "definition") out.push(v);
    } else if (Array.isArray(v)) for (const x of v) walk(x, null);
    else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, k);
  };
  walk(JSON.parse(readFileSync(DASHBOARD_FILE, "utf8")), null);
  return out;
}

/** What the agent's /metrics can carry: the scrape gauges and the shared registry, histograms with their series. */
export async function exportableNames(): Promise<Set<string>> {
  const names = new Set<string>(SCRAPE_GAUGE_NAMES);
  for (const m of await registry.getMetricsAsJSON()) {
    names.add(m.name);
    if (String(m.type) === "histogram")
      for (const s of ["_bucket", "_sum", "_count"]) names.add(`${m.name}${s}`);
  }
  return names;
}
