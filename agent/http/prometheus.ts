// GET /metrics: the shared registry (commands, tick and poll histograms)
// plus gauges that mirror the site, set from the snapshot at scrape time so
// nothing has to be kept in step between scrapes. docs/design.md names the core ones;
// gateway and meter gauges follow the same pattern.

import { registry as shared } from "../runtime/metrics.ts";
import { problemsOf } from "../site/problems.ts";
import type { HttpSite, LeanDevicesView } from "./types.ts";

/**
 * The exposition as it is written, encoded at once into buffers of 16 KiB outside V8's heap.
 * At 5,000 miners the text is half a megabyte, and made as one string it was a V8 large
 * object that lifted the agent's RSS by megabytes at every scrape. Kept as strings of 16 KiB,
 * each was a rope of the lines appended to it: at a 30 s scrape those ropes, alive until the
 * last line was written, lived through the young generation's collections and were copied
 * into the old one (a fifth of everything the agent promoted at 5,000 miners and a 10 s poll),
 * where only the next full GC frees them. Each line now dies as soon as its bytes are copied.
 */
class ExpositionBytes {
  private readonly filled: Buffer[] = [];
  private chunk: Buffer | null = null;
  private at = 0;

  /** Appends text (UTF-8). */
  write(text: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 unit: whatever the text, it fits
    const most = text.length * 3;
    if (this.chunk === null || this.at + most > this.chunk.length) {
      this.close();
      this.chunk = Buffer.allocUnsafeSlow(Math.max(CHUNK_BYTES, most));
    }
    this.at += this.chunk.write(text, this.at);
  }

  /** Appends what another writer holds (a family written beside this one); it is spent after. */
  append(other: ExpositionBytes): void {
    this.close();
    for (const b of other.end()) this.filled.push(b);
  }

  /** The bytes written, in order; the writer is spent after this. */
  end(): Buffer[] {
    this.close();
    return this.filled;
  }

  get empty(): boolean {
    return this.filled.length === 0 && this.at === 0;
  }

  private close(): void {
    if (this.chunk !== null && this.at > 0) this.filled.push(this.chunk.subarray(0, this.at));
    this.chunk = null;
    this.at = 0;
  }
}

const CHUNK_BYTES = 16 * 1024;

/** Writes one series of a family; each label set must come once (device ids are unique). */
type SeriesWriter = (value: number | null | undefined, labels: Record<string, string>) => void;

/**
 * Gauges built afresh for each scrape, written straight into the text
 * exposition format: a value that is unknown is absent, never a stale or
 * made-up 0. Small gauges are kept by label text until written (a series set
 * twice keeps its last value); a per-device family (one series per miner, GPU
 * or meter) is written as the devices are walked, with no table of its series.
 * Not prom-client's Gauge: at 5,000 miners its per-series label hashing (the
 * label names sorted on every set) cost more than the rest of the scrape.
 */
class ScrapeGauges {
  /** Per metric name: the series, by their `{…}` label text, and each one's value. */
  private readonly gauges = new Map<string, Map<string, number>>();
  /** Per-device families, each already written, after the small gauges in the text. */
  private readonly families: ExpositionBytes[] = [];

  constructor(private readonly help: Record<string, string>) {}

  set(name: string, value: number | null | undefined, labels?: Record<string, string>): void {
    if (!isValue(value)) return;
    let series = this.gauges.get(name);
    if (!series) {
      series = new Map();
      this.gauges.set(name, series);
    }
    series.set(labels ? labelText(labels) : "", value);
  }

  /** A family with one series per device: its writer, to be called as the devices are walked. */
  family(name: string): SeriesWriter {
    const out = new ExpositionBytes();
    this.families.push(out);
    let started = false;
    return (value, labels) => {
      if (!isValue(value)) return;
      if (!started) out.write(this.header(name));
      started = true;
      out.write(`\n${name}${labelText(labels)} ${value}`);
    };
  }

  /** `# HELP`, `# TYPE` and the series of each gauge, a blank line between; no trailing newline. */
  write(out: ExpositionBytes): void {
    let first = true;
    const separator = () => {
      if (!first) out.write("\n\n");
      first = false;
    };
    for (const [name, series] of this.gauges) {
      separator();
      out.write(this.header(name));
      for (const [labels, value] of series) out.write(`\n${name}${labels} ${value}`);
    }
    for (const family of this.families) {
      if (family.empty) continue; // a family with no known value is absent
      separator();
      out.append(family);
    }
  }

  private header(name: string): string {
    return `# HELP ${name} ${escapeText(this.help[name] ?? name)}\n# TYPE ${name} gauge`;
  }
}

const isValue = (v: number | null | undefined): v is number => typeof v === "number" && Number.isFinite(v);

/** `{a="x",b="y"}` in the labels' own order, values escaped as the format asks. */
function labelText(labels: Record<string, string>): string {
  let out = "";
  for (const k in labels) out += `${out === "" ? "{" : ","}${k}="${escapeLabel(labels[k]!)}"`;
  return out === "" ? "" : `${out}}`;
}

const NEEDS_ESCAPE = /[\\\n"]/;
const escapeLabel = (v: string): string =>
  NEEDS_ESCAPE.test(v) ? v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"') : v;
/** HELP text escapes backslash and newline (not quotes). */
const escapeText = (v: string): string => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");

const HELP: Record<string, string> = {
  wattkeeper_site_power_watts: "Site power (the site meter, or an estimate while it is stale)",
  wattkeeper_budget_watts: "The effective power budget",
  wattkeeper_class_power_watts: "Power by load class (ai, mining, aux)",
  wattkeeper_devices: "Devices by class and state",
  wattkeeper_device_power_watts: "Power per device",
  wattkeeper_outbox_messages: "MQTT messages waiting in the outbox (0 without MQTT)",
  wattkeeper_broker_connected: "1 while the MQTT link is up (absent without MQTT)",
  wattkeeper_healthy: "1 while the loop ticks (as /healthz)",
  wattkeeper_hold_mode: "1 while the control mode is hold (planning, not acting)",
  wattkeeper_meter_ok: "1 while a meter's reading is fresh",
  wattkeeper_meter_age_seconds: "Seconds since a meter's last good reading",
  wattkeeper_gateway_cpu_load_percent: "Gateway CPU load",
  wattkeeper_gateway_memory_used_bytes: "Gateway memory in use",
  wattkeeper_gateway_memory_total_bytes: "Gateway memory in total",
  wattkeeper_gateway_disk_used_percent: "Use of the filesystem holding the state",
  wattkeeper_gateway_disk_free_bytes: "Free space on the filesystem holding the state",
  wattkeeper_gateway_cpu_temperature_celsius: "Gateway CPU temperature",
  wattkeeper_gateway_uptime_seconds: "Gateway uptime",
  wattkeeper_http_sse_clients: "Status pages connected for live updates",
  wattkeeper_last_tick_age_seconds: "Seconds since the site's last tick (the loop stalls when it grows)",
  wattkeeper_site_hashrate_ths: "Hashrate of the miners that report one (TH/s)",
  wattkeeper_gpu_power_watts: "Power per GPU",
  wattkeeper_gpu_power_limit_watts: "Enforced power limit per GPU",
  wattkeeper_gpu_default_power_limit_watts: "Default power limit per GPU (what an uncapped GPU runs at)",
  wattkeeper_problems: "Problems on the site now (as GET /api/problems lists them), by kind and severity",
  wattkeeper_budget_info:
    "1, with the budget's source and reason as labels (for dashboard annotations when they change)",
  wattkeeper_budget_source:
    "1 for the kind of source that sets the budget now (contract, lease, schedule, economic, signal, failsafe), 0 for the others",
  wattkeeper_alarm:
    "1 for each control alarm in force (ai-capped, emergency, over-budget, shed-held-min-on, power-unknown…)",
  wattkeeper_http_connections: "Open HTTP connections",
  wattkeeper_http_connection_limit: "HTTP connection cap in force (after the file-descriptor budget)",
  wattkeeper_http_connection_limit_per_address: "HTTP connection cap per client address",
  wattkeeper_fd_limit: "The process's open-file limit (RLIMIT_NOFILE)",
  wattkeeper_fd_reserved: "File descriptors kept for device I/O and the process; HTTP cannot take them",
};

/** Every gauge a scrape may carry besides the shared registry's (dashboards and alert rules are checked against them). */
export const SCRAPE_GAUGE_NAMES: readonly string[] = Object.keys(HELP);

/** Problem kinds always present in wattkeeper_problems (0 when none). */
const PROBLEM_KINDS = [
  "unreachable",
  "faulted",
  "hot",
  "fan-failed",
  "dead-board",
  "low-hashrate",
  "wrong-pool",
  "firmware-changed",
  "cannot-shed",
];

/** Every kind of budget source, so a 0 is there for each: alert rules compare, not test for absence. */
const BUDGET_SOURCES = ["contract", "lease", "schedule", "economic", "signal", "failsafe"];
/** The alarms alert rules name, always present (0 when not in force). */
const KNOWN_ALARMS = ["ai-capped", "emergency", "over-budget"];

export interface HttpFigures {
  sseClients: number;
  connections?: number;
  connectionLimit?: number;
  connectionLimitPerAddress?: number;
  fdLimit?: number | null;
  fdReserved?: number | null;
}

export class SiteMetrics {
  constructor(
    private readonly site: HttpSite,
    private readonly extra: () => HttpFigures,
  ) {}

  get contentType(): string {
    return shared.contentType;
  }

  /** The exposition text: the shared counters and histograms plus this scrape's gauges. */
  async scrape(): Promise<string> {
    return Buffer.concat(await this.scrapePieces()).toString("utf8");
  }

  /** The same text as UTF-8, in buffers of about 16 KiB (sendPieces sends them as one body). */
  async scrapePieces(): Promise<Buffer[]> {
    const common = (await shared.metrics()).trimEnd();
    const g = new ScrapeGauges(HELP);
    this.fill(g);
    const out = new ExpositionBytes();
    // the scrape's own gauges are never empty (wattkeeper_healthy is always there)
    if (common) out.write(`${common}\n\n`);
    g.write(out);
    out.write("\n");
    return out.end();
  }

  private fill(g: ScrapeGauges): void {
    const site = this.site.siteView();
    g.set("wattkeeper_site_power_watts", site.powerW);
    g.set("wattkeeper_budget_watts", site.budgetW);
    for (const [cls, v] of Object.entries(site.classes)) {
      g.set("wattkeeper_class_power_watts", v.powerW, { class: cls });
    }
    g.set("wattkeeper_outbox_messages", site.broker?.outboxMessages ?? 0);
    if (site.broker) g.set("wattkeeper_broker_connected", site.broker.connected ? 1 : 0);
    g.set("wattkeeper_healthy", this.site.unhealthyReason() === null ? 1 : 0);
    g.set("wattkeeper_hold_mode", site.mode === "hold" ? 1 : 0);
    g.set("wattkeeper_last_tick_age_seconds", site.tickAgeS);
    g.set("wattkeeper_budget_info", 1, {
      source: site.budgetSource ?? "contract",
      reason: site.budgetReason.slice(0, 120),
    });
    for (const source of BUDGET_SOURCES) {
      g.set("wattkeeper_budget_source", site.budgetSource === source ? 1 : 0, { source });
    }
    const alarms = new Set(site.alarms ?? []);
    for (const code of new Set([...KNOWN_ALARMS, ...alarms])) {
      g.set("wattkeeper_alarm", alarms.has(code) ? 1 : 0, { code });
    }

    // the miners one at a time, not a row of /api/devices each: a scrape reads four fields of them
    const devices: LeanDevicesView = this.site.leanDevicesView?.() ?? this.site.devicesView();
    const counts = new Map<string, number>();
    const count = (cls: string, state: string) => {
      const k = `${cls}\u0000${state}`;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    };
    let hashrateThs: number | null = null;
    let miners = 0;
    const devicePower = g.family("wattkeeper_device_power_watts");
    for (const m of devices.miners) {
      count("mining", m.excluded ? "excluded" : (m.state ?? "unknown"));
      miners++;
      devicePower(m.powerW, { id: m.id, class: "mining" });
      if (typeof m.hashrateThs === "number") hashrateThs = (hashrateThs ?? 0) + m.hashrateThs;
    }
    if (miners > 0) g.set("wattkeeper_site_hashrate_ths", hashrateThs ?? 0);
    const gpuPower = g.family("wattkeeper_gpu_power_watts");
    const gpuLimit = g.family("wattkeeper_gpu_power_limit_watts");
    const gpuDefaultLimit = g.family("wattkeeper_gpu_default_power_limit_watts");
    for (const n of devices.gpuNodes) {
      count("ai", n.excluded ? "excluded" : (n.state ?? "unknown"));
      devicePower(n.powerW, { id: n.id, class: "ai" });
      for (const [i, gpu] of n.gpus.entries()) {
        const labels = { node: n.id, gpu: String(gpu.index ?? i) };
        gpuPower(gpu.powerW, labels);
        gpuLimit(gpu.enforcedPowerLimitW ?? gpu.powerLimitW, labels);
        gpuDefaultLimit(gpu.defaultPowerLimitW, labels);
      }
    }
    const meterOk = g.family("wattkeeper_meter_ok");
    const meterAge = g.family("wattkeeper_meter_age_seconds");
    for (const m of devices.meters) {
      count("meter", m.ok ? "ok" : "stale");
      meterOk(m.ok ? 1 : 0, { id: m.id, role: m.role });
      meterAge(m.ageS, { id: m.id, role: m.role });
    }
    // the states alert rules divide by are always there, 0 when none are in them
    for (const [cls, states] of [
      ["mining", ["hashing", "sleeping", "starting", "faulted", "unreachable"]],
      ["ai", ["ok", "faulted", "unreachable"]],
    ] as const) {
      for (const st of states)
        if (!counts.has(`${cls}\u0000${st}`) && (cls === "mining" ? miners : devices.gpuNodes.length) > 0)
          counts.set(`${cls}\u0000${st}`, 0);
    }
    for (const [k, n] of counts) {
      const [cls, state] = k.split("\u0000") as [string, string];
      g.set("wattkeeper_devices", n, { class: cls, state });
    }

    const gw = site.gateway;
    if (gw) {
      g.set("wattkeeper_gateway_cpu_load_percent", gw.cpuLoadPct);
      g.set("wattkeeper_gateway_memory_used_bytes", gw.memUsedBytes);
      g.set("wattkeeper_gateway_memory_total_bytes", gw.memTotalBytes);
      g.set("wattkeeper_gateway_disk_used_percent", gw.disk?.usedPct);
      g.set("wattkeeper_gateway_disk_free_bytes", gw.disk?.freeBytes);
      g.set("wattkeeper_gateway_cpu_temperature_celsius", gw.cpuTempC);
      g.set("wattkeeper_gateway_uptime_seconds", gw.uptimeS);
    }
    const problems = new Map<string, number>();
    for (const k of PROBLEM_KINDS) problems.set(`${k}\u0000warning`, 0);
    for (const p of problemsOf(this.site)) {
      const key = `${p.kind}\u0000${p.severity}`;
      problems.set(key, (problems.get(key) ?? 0) + 1);
    }
    for (const [k, n] of problems) {
      const [kind, severity] = k.split("\u0000") as [string, string];
      g.set("wattkeeper_problems", n, { kind, severity });
    }
    const x = this.extra();
    g.set("wattkeeper_http_sse_clients", x.sseClients);
    g.set("wattkeeper_http_connections", x.connections);
    g.set("wattkeeper_http_connection_limit", x.connectionLimit);
    g.set("wattkeeper_http_connection_limit_per_address", x.connectionLimitPerAddress);
    g.set("wattkeeper_fd_limit", x.fdLimit);
    g.set("wattkeeper_fd_reserved", x.fdReserved);
  }
}
