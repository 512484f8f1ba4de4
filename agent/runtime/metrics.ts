// The agent's Prometheus registry (prom-client), one per process, with the
// counters that channels increment as things happen. Gauges that mirror the
// site's state (power, budget, devices) are computed at scrape time by the
// HTTP layer from the snapshot, so nothing here has to be kept in step.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export const registry = new Registry();
// process and runtime figures (RSS, heap by space, external memory, fds, event-loop lag,
// GC): what a technician checks first when a gateway runs short of memory
collectDefaultMetrics({ register: registry });

/** Remote and operator commands by name and result (ok, rejected:<reason class>, failed). */
export const commandsTotal = new Counter({
  name: "wattkeeper_commands_total",
  help: "Commands received (MQTT and HTTP), by name and result",
  labelNames: ["name", "result"] as const,
  registers: [registry],
});

/** Price messages refused (out of range, expired, unsigned…), by price and reason. */
export const pricesRefused = new Counter({
  name: "wattkeeper_prices_refused_total",
  help: "Price messages refused, by price and reason",
  labelNames: ["price", "reason"] as const,
  registers: [registry],
});

/** A grid signal's value: the budget it asks for (W), or the share of flexible load it keeps (%), −1 when none. */
export const signalValue = new Gauge({
  name: "wattkeeper_signal_value",
  help: "Grid signal value: the budget asked for (W), or the kept share of flexible load (%); -1 when it asks nothing",
  labelNames: ["name"] as const,
  registers: [registry],
});

/** 1 for a grid signal's current state, 0 for the others. */
export const signalState = new Gauge({
  name: "wattkeeper_signal_state",
  help: "Grid signal state (1 = the current one): active, idle, stale, error",
  labelNames: ["name", "state"] as const,
  registers: [registry],
});

/** Site events as they are stored, by kind and severity (the dashboard's events rate). */
export const eventsTotal = new Counter({
  name: "wattkeeper_events_total",
  help: "Site events, by kind and severity",
  labelNames: ["kind", "severity"] as const,
  registers: [registry],
});

export const tickDuration = new Histogram({
  name: "wattkeeper_tick_duration_seconds",
  help: "Duration of a control tick (plan and apply)",
  buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60],
  registers: [registry],
});

export const pollDuration = new Histogram({
  name: "wattkeeper_poll_duration_seconds",
  help: "Duration of one poll sweep, by driver",
  labelNames: ["driver"] as const,
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});

export const pollInFlight = new Gauge({
  name: "wattkeeper_poll_reads_in_flight_max",
  help: "Reads the last poll sweep had in flight at most, by driver (the miners' narrows while a sweep's reads all start early in the period)",
  labelNames: ["driver"] as const,
  registers: [registry],
});

export const pollLoopBusy = new Gauge({
  name: "wattkeeper_poll_loop_busy_ratio",
  help: "How busy the agent's event loop was (0-1) while the last poll sweep's reads queued, by driver: near 1, the agent, not the devices, set the sweep's pace",
  labelNames: ["driver"] as const,
  registers: [registry],
});

/** Bytes on disk of the state database (file + WAL + index), measured every 30 s. */
export const storeBytes = new Gauge({
  name: "wattkeeper_store_bytes",
  help: "Size of the SQLite state database on disk (file, WAL and index), bytes",
  registers: [registry],
});

/** Connections the HTTP endpoint closed at once, by why: over the total cap, over the per-address cap, or evicted to admit another address. */
export const httpConnectionsRefused = new Counter({
  name: "wattkeeper_http_connections_refused_total",
  help: "HTTP connections closed at once by the connection caps, by reason (total, per-address, evicted)",
  labelNames: ["reason"] as const,
  registers: [registry],
});

/** Live-update streams closed by their caps (per-address, total) or for not reading (slow). */
export const httpSseClosed = new Counter({
  name: "wattkeeper_http_sse_closed_total",
  help: "SSE streams the agent closed, by reason (per-address, total, slow)",
  labelNames: ["reason"] as const,
  registers: [registry],
});

/** Requests refused at the operator boundary (no session, CSRF, cross-site, login failures and limits). */
export const httpRefusals = new Counter({
  name: "wattkeeper_http_refusals_total",
  help: "Operator requests refused over HTTP, by reason",
  labelNames: ["reason"] as const,
  registers: [registry],
});
