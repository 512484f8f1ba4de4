// Wires a resolved config into running parts: drivers → pollers → snapshot →
// control loop → tick (summary log line, health, listeners) → HTTP. start()
// and stop() run in order; constructors only assign. Operator and remote
// intents (lease, mode, device actions) enter here, are audited, and act
// through the control loop; channels (HTTP, MQTT) subscribe to ticks and
// events instead of reaching into the parts.

import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { SiteConfig } from "../config/schema.ts";
import { formatHashrateThs, formatPowerW } from "../config/units.ts";
import type { Miner } from "../drivers/cgminer/miner.ts";
import type { ModbusConnection } from "../drivers/modbus/client.ts";
import type { GpuNode } from "../drivers/nvidia/node.ts";
import type { GpuNodeReading } from "../drivers/nvidia/types.ts";
import type { MeterReading, MinerReading } from "../drivers/types.ts";
import { driverActuator } from "./control/actuator.ts";
import { CONTRACT_REASON, economicBudget, type Prices } from "./control/budget.ts";
import { type Actor, type DeviceAction, type IntentResult, locateSeconds } from "./control/intents.ts";
import { type ControlEvent, ControlLoop, type ControlMode, type TickResult } from "./control/loop.ts";
import { isFlexible } from "./control/policy.ts";
import type { PriceField } from "./control/prices.ts";
import { type FlexView, signalSources } from "./control/signal-budget.ts";
import { TickTimes } from "./control/tick-times.ts";
import type { BudgetLease, PlanSnapshot } from "./control/types.ts";
import { runDeviceAction } from "./device-actions.ts";
import { buildDeviceDetail } from "./device-detail.ts";
import { DeviceHistory } from "./device-history.ts";
import { type DeviceProblem, OutageWatch } from "./device-outages.ts";
import { buildPollers, DEFAULT_MINER_CONCURRENCY, type PollDriver } from "./device-pollers.ts";
import { startExports } from "./exports/index.ts";
import type { RunningExport } from "./exports/types.ts";
import { planFds, readFdLimit } from "./fd-budget.ts";
import { type GatewayHealth, GatewayMonitor } from "./gateway.ts";
import { HttpServer, type Operator } from "./http/server.ts";
import { keepSessionsOf, Sessions } from "./http/sessions.ts";
import { selfSignedTls, type TlsMaterial, tlsFromFiles } from "./http/tls.ts";
import type { DeviceDetail } from "./http/types.ts";
import { LocateTimers } from "./locate-timers.ts";
import type { Logger } from "./logger.ts";
import { commandsTotal, eventsTotal, pollDuration, tickDuration } from "./metrics.ts";
import { longestWakeUpMs, modelsOf } from "./models.ts";
import { MqttChannel } from "./mqtt/channel.ts";
import type { Poller, SweepStats } from "./poller.ts";
import { ProblemWatch } from "./problem-events.ts";
import { listProblems } from "./problems.ts";
import type { SignalStatus, SiteReadback } from "./signals/types.ts";
import { ChangeWatch, outcomeEvent, programEvent } from "./site-events.ts";
import { type PriceOffer, SitePrices } from "./site-prices.ts";
import type { BrokerStatus, SiteTick } from "./site-tick.ts";

export type { BrokerStatus, SiteTick } from "./site-tick.ts";

import { SiteSignals } from "./site-signals.ts";

export type { PollDriver } from "./device-pollers.ts";

import { type SiteSnapshot, SiteState } from "./state.ts";
import { AuditLog } from "./store/audit.ts";
import { EventLog, type NewSiteEvent, type SiteEvent } from "./store/events.ts";
import { History } from "./store/history.ts";
import { Ledger } from "./store/ledger.ts";
import { Settings } from "./store/settings.ts";
import { StoreSizeWatch } from "./store/size.ts";

export interface SiteOptions {
  /** Miner sweep period; the first sweep starts at once. */
  minerPollMs?: number;
  meterPollMs?: number;
  minerConcurrency?: number;
  /** Overrides config.http.listen (tests use port 0). */
  httpListen?: { host: string; port: number } | null;
  version?: string;
  /** What a site replaced by a reload hands to its successor (Site.handoff()). */
  handoff?: SiteHandoff | null;
  /** How often each device's power and hashrate is sampled for its sparkline (tests shorten it). */
  deviceHistoryEveryMs?: number;
}

/**
 * What outlives a reload: operator sessions (nobody is logged out by a config
 * change), the latest readings (the new site does not start blind and raise a
 * false failsafe), and what was already reported (open outages, the budget and
 * alarms in force), so a reload is not news in the event log.
 */
export interface SiteHandoff {
  sessions: Sessions;
  operators: readonly Operator[];
  state: SiteState;
  outages: OutageWatch;
  problems: ProblemWatch;
  changes: ChangeWatch;
  deviceHistory: DeviceHistory;
}

/** A poller reading this recent stands as the "before" a write is confirmed against. */
const FRESH_READING_MS = 15_000;
/** A miner write confirms by reading back within its own deadline. */
const ACTION_TIMEOUT_MS = 45_000;
/** How long actions, events and audit entries are kept. */
const KEEP_ACTIONS_MS = 30 * 86_400_000;
const KEEP_EVENTS_MS = 30 * 86_400_000;
const KEEP_EVENTS_MAX = 200_000;
const KEEP_AUDIT_MS = 365 * 86_400_000;
/** The loop's deadline on a drain command beyond the command's own (the SSH round trip). */
const DRAIN_DEADLINE_SLACK_MS = 5000;
/** How often the problems list is checked for the events that raise and clear them. */
const PROBLEM_CHECK_MS = 5000;
const PRUNE_EVERY_MS = 3_600_000;
/** Who the agent's own actions are from (a locate it ends when its time is up), in the audit log. */
const AGENT_ACTOR: Actor = { via: "local", who: "agent" };

export class Site {
  readonly config: SiteConfig;
  readonly state: SiteState;
  private readonly logger: Logger;
  private readonly opts: SiteOptions;
  private minerPoller: Poller<MinerReading> | null = null;
  private meterPoller: Poller<MeterReading> | null = null;
  private gpuPoller: Poller<GpuNodeReading> | null = null;
  private gpuNodes = new Map<string, GpuNode>();
  private ledger: Ledger | null = null;
  /** The remote budget override in force (set through MQTT `budget/set`, or locally). */
  private lease: BudgetLease | null = null;
  /** Energy price and hashprice for the economic cut: fixed in the config, or taken as they arrive. */
  private readonly prices: SitePrices;
  /** Grid signals the site follows (signals section), each a budget source. */
  private readonly signals: SiteSignals;
  private loop: ControlLoop | null = null;
  private settings: Settings | null = null;
  /** Ends the locates the firmware would leave blinking (kept in the settings store). */
  private locates: LocateTimers | null = null;
  private eventLog: EventLog | null = null;
  private auditLog: AuditLog | null = null;
  /** Site power, budget and class split per 10 s, for the status page chart. */
  private history: History | null = null;
  private pruneTimer: NodeJS.Timeout | null = null;
  /** The database's size on disk: a metric, and an alarm past a threshold. */
  private storeSize: StoreSizeWatch | null = null;
  private gateway: GatewayMonitor | null = null;
  private readonly tickListeners = new Set<(t: SiteTick) => void>();
  private readonly eventListeners = new Set<(e: SiteEvent) => void>();
  private brokerStatusFn: (() => BrokerStatus) | null = null;
  private readonly sweepListeners = new Set<(driver: PollDriver, stats: SweepStats) => void>();
  /** What the last tick reported, so a change becomes one event, not one per tick. */
  private readonly changes: ChangeWatch;
  /** Operator sessions of the status page (kept across reloads). */
  private readonly sessions: Sessions;
  private readonly tickTimes = new TickTimes(1000);
  private connections: ModbusConnection[] = [];
  private http: HttpServer | null = null;
  private mqtt: MqttChannel | null = null;
  private exports: RunningExport | null = null;
  private tickTimer: NodeJS.Timeout | null = null;
  private lastTickAt = 0;
  private readonly startedAt = Date.now();
  /** Open device outages: one event (and log line) per outage and reason code, not one per sweep. */
  private readonly outages: OutageWatch;
  /** Problems raised and cleared (events); handed over on a reload like the outages. */
  private readonly problemWatch: ProblemWatch;
  private problemsCheckedAt = Number.NEGATIVE_INFINITY;
  /** Each device's power and hashrate over the last hour (the detail page's sparkline). */
  private readonly deviceHistory: DeviceHistory;
  /** One driver per configured miner, by id. */
  private miners = new Map<string, Miner>();

  constructor(config: SiteConfig, logger: Logger, opts: SiteOptions = {}) {
    this.config = config;
    this.logger = logger;
    this.opts = opts;
    this.state = new SiteState(config);
    const h = opts.handoff ?? null;
    this.changes = h?.changes ?? new ChangeWatch();
    this.outages = h?.outages ?? new OutageWatch();
    this.problemWatch = h?.problems ?? new ProblemWatch();
    this.deviceHistory = h?.deviceHistory ?? new DeviceHistory(opts.deviceHistoryEveryMs);
    this.deviceHistory.keepOnly(new Set([...config.miners, ...config.gpuNodes].map((d) => d.id)));
    this.sessions = h?.sessions ?? new Sessions();
    this.signals = new SiteSignals({
      config,
      logger,
      readSite: () => this.readback(),
      emit: (e) => this.emitEvent(e),
      wake: () => this.loop?.wakeNow(),
      audit: (e) => {
        try {
          this.auditLog?.append(e);
        } catch (err) {
          this.logger.warn({ err }, "audit write failed");
        }
      },
    });
    this.prices = new SitePrices(
      config.control.economics,
      (e) => this.emitEvent(e),
      () => this.loop?.wakeNow(),
    );
  }

  async start(): Promise<void> {
    const log = this.logger;
    const h = this.opts.handoff;
    if (h) {
      this.state.adopt(h.state);
      keepSessionsOf(this.sessions, h.operators, this.config.http.operators);
    }
    const siteMeters = new Set(this.config.meters.filter((m) => m.role === "site").map((m) => m.id));
    const pollers = buildPollers({
      config: this.config,
      opts: this.opts,
      state: this.state,
      logger: this.logger,
      onTransition: (id, problem) => this.noteDeviceProblem(id, problem),
      onSweep: (driver, stats) => this.sweepDone(driver, stats),
      onMeterReading: (id, r) => {
        if (r.ok && r.powerW !== null && siteMeters.has(id) && this.loop?.overShedLine(r.powerW))
          this.loop.wakeNow();
      },
    });
    this.minerPoller = pollers.miner;
    this.meterPoller = pollers.meter;
    this.gpuPoller = pollers.gpu;
    this.miners = pollers.miners;
    this.gpuNodes = pollers.gpuNodes;
    this.connections = pollers.connections;

    this.history = new History(this.config.store.path);
    mkdirSync(dirname(this.config.store.path), { recursive: true });
    this.history.open();
    this.onTick((t) => this.recordHistory(t));

    const listen = this.opts.httpListen === undefined ? this.config.http.listen : this.opts.httpListen;
    if (listen) {
      const limits = this.config.http.limits;
      const fd = planFds(
        {
          miners: this.config.miners.length,
          minerConcurrency: this.opts.minerConcurrency ?? DEFAULT_MINER_CONCURRENCY,
          sessionMiners: this.config.miners.filter((m) => m.dialect === "braiins").length,
          gpuNodes: this.config.gpuNodes.length,
          meterConnections: this.config.meters.length,
        },
        limits.maxConnections,
        readFdLimit(),
      );
      if (fd.warning) log.warn({ component: "http", fd }, fd.warning);
      else
        log.info(
          { component: "http", fd },
          `file descriptors: ${fd.reserved} kept for devices, HTTP up to ${fd.httpMaxConnections} connections`,
        );
      const tls = await this.httpTls(listen.host);
      this.http = new HttpServer({
        host: listen.host,
        port: listen.port,
        tls,
        logger: log.child({ component: "http" }),
        operators: this.config.http.operators,
        sessions: this.sessions,
        limits: { ...limits, maxConnections: fd.httpMaxConnections },
        fd,
        site: {
          siteView: () => this.siteJson(),
          devicesView: () => this.devicesJson(),
          unhealthyReason: () => this.unhealthyReason(),
          outageSince: (id) => this.outages.sinceOf(id),
          recentEvents: (limit) => this.recentEvents(limit),
          eventsAfter: (id) => this.eventsAfter(id),
          onEvent: (fn) => this.onEvent(fn),
          onTick: (fn) => this.onTick(fn),
          history: (minutes) => this.history?.read(minutes) ?? [],
          deviceAction: (req, actor) => this.deviceAction(req, actor),
          setMode: (mode, actor) => this.setMode(mode, actor),
          deviceDetail: (id) => this.deviceDetail(id),
          auditByRef: (ref) => this.auditLog?.byRef(ref) ?? null,
          audit: (entry) => {
            this.auditLog?.append(entry);
          },
        },
      });
      await this.http.start();
      const addr = this.http.address();
      log.info(
        { component: "http", listen: addr, tls: !!tls },
        `${tls ? "https" : "http"} listening on ${addr?.address}:${addr?.port}`,
      );
    }

    this.startControl();
    await this.signals.start();
    if (this.config.mqtt) {
      this.mqtt = new MqttChannel(this, this.config.mqtt, {
        logger: log.child({ component: "mqtt" }),
        version: this.opts.version ?? "unknown",
        startedAt: this.startedAt,
      });
      this.mqtt.start();
    }
    if (this.config.exports) {
      this.exports = startExports(
        {
          config: this.config,
          siteView: () => this.siteJson(),
          devicesView: () => this.devicesJson(),
          unhealthyReason: () => this.unhealthyReason(),
          onTick: (fn) => this.onTick(() => fn()),
          onEvent: (fn) => this.onEvent(fn),
          setBudgetLease: (watts, ttlS, reason, actor) => this.setBudgetLease(watts, ttlS, reason, actor),
          clearBudgetLease: (actor) => this.clearBudgetLease(actor),
          setMode: (mode, actor) => this.setMode(mode, actor),
          deviceAction: (req, actor) => this.deviceAction(req, actor),
          audit: (entry) => {
            this.auditLog?.append(entry);
          },
        },
        { logger: log.child({ component: "exports" }), version: this.opts.version ?? "unknown" },
      );
    }
    this.gateway = new GatewayMonitor({
      statePath: this.config.store.path,
      logger: log.child({ component: "gateway" }),
    });
    this.gateway.start();
    // the loop's first tick waits for the first meter sweep (bounded by meterStaleS): at boot
    // "no reading yet" is not a stale meter, and must not raise a failsafe alarm
    const firstMeterSweep =
      this.config.meters.length > 0 && !this.state.snapshot(Date.now()).meter?.ok
        ? new Promise<void>((resolve) => {
            const done = () => {
              clearTimeout(timer);
              off();
              resolve();
            };
            const timer = setTimeout(done, this.config.control.meterStaleS * 1000);
            const off = this.onSweep((driver) => {
              if (driver === "modbus") done();
            });
          })
        : Promise.resolve();
    this.meterPoller.start();
    this.minerPoller.start();
    this.gpuPoller.start();
    await firstMeterSweep;
    this.loop?.start();
    this.locates?.start();
    this.tick();
    log.info(
      {
        miners: this.config.miners.length,
        meters: this.config.meters.length,
        gpuNodes: this.config.gpuNodes.length,
        tickS: this.config.control.tickS,
      },
      `site ${this.config.site.id} started`,
    );
  }

  async stop(): Promise<void> {
    // the broker link first: status offline, no telemetry of a site going away; events of
    // the stop itself (a last sweep's degraded devices) wait in the outbox for the next start
    await this.mqtt?.disconnect();
    await this.exports?.stop();
    this.exports = null;
    if (this.tickTimer) clearTimeout(this.tickTimer);
    this.tickTimer = null;
    await this.signals.stop();
    // the locate ends stay stored: the next start turns those LEDs off when their time is up
    this.locates?.stop();
    this.locates = null;
    // the loop first: it must not act on devices whose pollers are going away
    await this.loop?.stop();
    this.loop = null;
    await Promise.all([this.minerPoller?.stop(), this.meterPoller?.stop(), this.gpuPoller?.stop()]);
    await Promise.all([...this.gpuNodes.values()].map((n) => n.stop()));
    this.gpuNodes.clear();
    await Promise.all(this.connections.map((c) => c.close()));
    await Promise.all([...this.miners.values()].map((m) => m.close()));
    this.connections = [];
    await this.http?.stop();
    this.http = null;
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    this.pruneTimer = null;
    this.storeSize?.stop();
    this.storeSize = null;
    await this.gateway?.stop();
    this.gateway = null;
    this.mqtt?.close();
    this.mqtt = null;
    this.ledger?.close();
    this.ledger = null;
    this.settings?.close();
    this.settings = null;
    this.eventLog?.close();
    this.eventLog = null;
    this.auditLog?.close();
    this.auditLog = null;
    this.history?.close();
    this.history = null;
    this.logger.info("site stopped");
  }

  /** What the site that replaces this one on a reload takes over (call before stop()). */
  handoff(): SiteHandoff {
    return {
      sessions: this.sessions,
      operators: this.config.http.operators,
      state: this.state,
      outages: this.outages,
      problems: this.problemWatch,
      changes: this.changes,
      deviceHistory: this.deviceHistory,
    };
  }

  /** The bound HTTP address (tests). */
  httpAddress() {
    return this.http?.address() ?? null;
  }

  /** A fresh snapshot (cheap: one pass over the latest readings). */
  snapshot(): SiteSnapshot {
    return this.state.snapshot(Date.now(), (id) => this.settings?.isExcluded(id) ?? false);
  }

  private tick(): void {
    const snap = this.snapshot();
    this.lastTickAt = snap.at;
    const control = this.loop?.last ?? null;
    const budget = control?.budget ?? null;
    this.noteBudgetAndAlarms(control);
    this.endExclusions(snap.at);
    this.noteProblems(snap.at);
    this.noteDeviceHistory(snap.at);
    const t: SiteTick = { at: snap.at, snapshot: snap, budget, mode: this.loop?.mode ?? "auto", control };
    for (const fn of this.tickListeners) {
      try {
        fn(t);
      } catch (err) {
        this.logger.warn({ err }, "tick listener threw");
      }
    }
    this.logger.info(
      {
        component: "tick",
        powerW: snap.powerW === null ? null : Math.round(snap.powerW),
        powerSource: snap.powerSource,
        budgetW: this.loop?.last?.budget?.budgetW ?? this.config.site.contractLimitW,
        meter: snap.meter,
        counts: snap.counts,
        hashrateThs: snap.hashrateThs,
      },
      summaryLine(snap, this.config.miners.length),
    );
    this.tickTimer = setTimeout(() => this.tick(), this.config.control.tickS * 1000);
  }

  /**
   * Why the agent is not healthy, or null: the heartbeat stopped (event loop
   * blocked), or the control loop neither ticks nor is busy applying — a shed
   * to slow miners may run for the action deadline × retries, that is alive.
   */
  unhealthyReason(now: number = Date.now()): string | null {
    const c = this.config.control;
    const stallMs = Math.max(3 * c.tickS * 1000, 10_000);
    const age = now - this.lastTickAt;
    if (age > stallMs) return `no tick for ${Math.round(age / 1000)} s`;
    const p = this.loop?.progress;
    if (!p) return null;
    const busyLimitMs = ACTION_TIMEOUT_MS * Math.max(1, c.retries) + stallMs;
    if (p.busySince !== null && now - p.busySince > busyLimitMs) {
      return `control tick running for ${Math.round((now - p.busySince) / 1000)} s`;
    }
    if (p.busySince === null && p.lastTickEndAt !== null && now - p.lastTickEndAt > stallMs) {
      return `no control tick for ${Math.round((now - p.lastTickEndAt) / 1000)} s`;
    }
    return null;
  }

  /** Called every tick with the snapshot, the budget and the mode. Returns an unsubscribe. */
  onTick(fn: (t: SiteTick) => void): () => void {
    this.tickListeners.add(fn);
    return () => this.tickListeners.delete(fn);
  }

  /** Called after each poll sweep of a driver (device telemetry per poll cycle). Returns an unsubscribe. */
  onSweep(fn: (driver: PollDriver, stats: SweepStats) => void): () => void {
    this.sweepListeners.add(fn);
    return () => this.sweepListeners.delete(fn);
  }

  private sweepDone(driver: PollDriver, stats: SweepStats): void {
    // a driver with nothing configured sweeps nothing: no series for it on /metrics
    const configured =
      driver === "cgminer"
        ? this.config.miners.length
        : driver === "modbus"
          ? this.config.meters.length
          : this.config.gpuNodes.length;
    if (configured > 0) pollDuration.observe({ driver }, stats.durationMs / 1000);
    for (const fn of this.sweepListeners) {
      try {
        fn(driver, stats);
      } catch (err) {
        this.logger.warn({ err, driver }, "sweep listener threw");
      }
    }
  }

  /** Called for every stored event (actions, outcomes, alarms, operator actions). Returns an unsubscribe. */
  onEvent(fn: (e: SiteEvent) => void): () => void {
    this.eventListeners.add(fn);
    return () => this.eventListeners.delete(fn);
  }

  /** CPU, memory, disk and temperature of the gateway, sampled every 30 s. */
  gatewayHealth(): GatewayHealth | null {
    return this.gateway?.latest() ?? null;
  }

  /** The MQTT link reports through this; /api/site shows it. */
  setBrokerStatus(fn: (() => BrokerStatus) | null): void {
    this.brokerStatusFn = fn;
  }

  /** Newest first. */
  recentEvents(limit = 100): SiteEvent[] {
    return this.eventLog?.recent(limit) ?? [];
  }

  /** Stored events after an id, oldest first (SSE catch-up). */
  eventsAfter(id: number, limit = 1000): SiteEvent[] {
    return this.eventLog?.after(id, limit) ?? [];
  }

  /** The audit log (HTTP and MQTT record refusals at their boundary here). */
  get audit(): AuditLog | null {
    return this.auditLog;
  }

  get mode(): ControlMode {
    return this.loop?.mode ?? "auto";
  }

  /** What the agent holds curtailed, from the ledger: miners it slept or power-limited, GPUs it capped (MQTT `state`). */
  curtailment(now: number = Date.now()): {
    curtailed: Array<{ id: string; how: "sleep" | "power-limit"; since: string }>;
    aiCaps: Array<{ id: string; gpu: number; originalW: number; since: string }>;
  } {
    const curtailed: Array<{ id: string; how: "sleep" | "power-limit"; since: string }> = [];
    const aiCaps: Array<{ id: string; gpu: number; originalW: number; since: string }> = [];
    if (!this.ledger) return { curtailed, aiCaps };
    for (const [id, d] of this.ledger.view(now).devices) {
      if (d.sleptAt != null) curtailed.push({ id, how: "sleep", since: new Date(d.sleptAt).toISOString() });
      else if (d.powerLimit) {
        curtailed.push({ id, how: "power-limit", since: new Date(d.powerLimit.at).toISOString() });
      }
      for (const [gpu, c] of d.gpuCaps ?? []) {
        aiCaps.push({ id, gpu, originalW: c.originalW, since: new Date(c.at).toISOString() });
      }
    }
    return { curtailed, aiCaps };
  }

  /** The lease in force, if any (expired ones are not in force). */
  get budgetLease(): BudgetLease | null {
    return this.lease && this.lease.expiresAt > Date.now() ? this.lease : null;
  }

  /** Stores an event and hands it to listeners. Never throws. */
  emitEvent(e: NewSiteEvent): SiteEvent | null {
    let stored: SiteEvent;
    try {
      stored = this.eventLog ? this.eventLog.append(e) : { id: 0, deviceId: null, data: null, ...e };
    } catch (err) {
      this.logger.warn({ err, kind: e.kind }, "event not stored");
      return null;
    }
    eventsTotal.inc({ kind: e.kind, severity: e.severity });
    for (const fn of this.eventListeners) {
      try {
        fn(stored);
      } catch (err) {
        this.logger.warn({ err }, "event listener threw");
      }
    }
    return stored;
  }

  private auditIntent(actor: Actor, action: string, body: unknown, r: IntentResult): IntentResult {
    commandsTotal.inc({ name: action, result: r.ok ? "ok" : "failed" });
    try {
      this.auditLog?.append({
        at: Date.now(),
        via: actor.via,
        who: actor.who,
        action,
        body,
        ok: r.ok,
        error: r.ok ? null : r.error,
        ref: actor.ref ?? null,
      });
    } catch (err) {
      this.logger.error({ err, action }, "audit write failed");
    }
    return r;
  }

  /** Tick count and duration percentiles over the last 1,000 ticks, and action totals. */
  private controlStats() {
    const [tickMsP50, tickMsP99] = this.tickTimes.quantiles(0.5, 0.99);
    const stats = this.loop?.stats;
    return {
      ticks: stats?.ticks ?? 0,
      tickErrors: stats?.tickErrors ?? 0,
      tickMsP50,
      tickMsP99,
      actionsDone: stats?.actionsDone ?? 0,
      actionsFailed: stats?.actionsFailed ?? 0,
    };
  }

  /** Problems raised and cleared as events, checked every PROBLEM_CHECK_MS. */
  private noteProblems(now: number): void {
    if (now - this.problemsCheckedAt < PROBLEM_CHECK_MS) return;
    this.problemsCheckedAt = now;
    try {
      const problems = listProblems({
        site: this.siteJson(),
        devices: this.devicesJson(),
        outageSince: (id) => this.outages.sinceOf(id),
        now,
      });
      for (const e of this.problemWatch.note(problems, now)) this.emitEvent(e);
    } catch (err) {
      this.logger.warn({ err }, "problems not checked");
    }
  }

  /**
   * The page's certificate and key (config `http.tls`), or null for plain HTTP.
   * Its SHA-256 fingerprint is logged, so a technician can compare it with
   * what the browser shows for a self-signed certificate.
   */
  private async httpTls(listenHost: string): Promise<TlsMaterial | null> {
    const t = this.config.http.tls;
    if (!t) return null;
    let m: TlsMaterial;
    if ("selfSigned" in t) {
      const made = await selfSignedTls(dirname(this.config.store.path), {
        siteId: this.config.site.id,
        listenHost,
      });
      m = made;
      if (made.created)
        this.logger.info({ component: "http", file: made.source }, "self-signed certificate made");
    } else {
      if (!t.cert || !t.key) throw new Error("http.tls: certFile and keyFile could not be read");
      m = tlsFromFiles(t.cert, t.key, t.certFile);
    }
    this.logger.info(
      { component: "http", fingerprint256: m.fingerprint256, source: m.source },
      `https certificate SHA-256 fingerprint ${m.fingerprint256} (compare it with the one the browser shows)`,
    );
    return m;
  }

  /** Exclusions whose end has come: each device back in automatic control, with an event. */
  private endExclusions(now: number): void {
    let ended: ReturnType<Settings["expire"]>;
    try {
      ended = this.settings?.expire(now) ?? [];
    } catch (err) {
      this.logger.warn({ err }, "exclusion ends not checked");
      return;
    }
    for (const e of ended) {
      this.emitEvent({
        at: now,
        kind: "device-included",
        severity: "info",
        deviceId: e.deviceId,
        message: `${e.deviceId} back in automatic control: the exclusion by ${e.by}${e.reason ? ` (${e.reason})` : ""} ended at ${new Date(e.until!).toISOString()}`,
        data: { by: e.by, ended: true, until: e.until },
      });
    }
    if (ended.length > 0) this.loop?.wakeNow();
  }

  /** A sample of every device's power and hashrate, once per DeviceHistory period. */
  private noteDeviceHistory(now: number): void {
    if (!this.deviceHistory.due(now)) return;
    const samples: Array<{ id: string; powerW: number | null; hashrateThs: number | null }> = [];
    for (const [id, e] of this.state.miners) {
      const r = e.reading;
      if (r) samples.push({ id, powerW: r.powerW, hashrateThs: r.hashrateThs });
    }
    for (const [id, r] of this.state.gpuNodes) {
      if (r) samples.push({ id, powerW: r.powerW ?? null, hashrateThs: null });
    }
    this.deviceHistory.record(now, samples);
  }

  /** One device in full for the detail page; null for an unknown id. */
  deviceDetail(id: string, now: number = Date.now()): DeviceDetail | null {
    const device = this.state.deviceRow(
      id,
      now,
      (x) => this.settings?.isExcluded(x, now) ?? false,
      (x) => this.driverView(x),
    );
    if (!device) return null;
    const reported = device.kind === "miner" ? (this.state.miners.get(id)?.reading?.model ?? null) : null;
    return buildDeviceDetail({
      device,
      model: modelsOf(this.config).find(reported),
      exclusion: this.settings?.exclusion(id) ?? null,
      ledger: this.ledger?.forDevice(id, 20) ?? [],
      events: this.eventLog?.forDevice(id, 30) ?? [],
      history: this.deviceHistory.of(id),
      historyEveryMs: this.deviceHistory.everyMs,
      outageSince: this.outages.sinceOf(id),
      now,
    });
  }

  /** One event when the budget (value or reason) or an alarm changes, not one per tick. */
  private noteBudgetAndAlarms(control: TickResult | null): void {
    for (const e of this.changes.note(control, Date.now())) this.emitEvent(e);
  }

  private recordHistory(t: SiteTick): void {
    try {
      this.history?.record(t.at, {
        powerW: t.snapshot.powerW,
        budgetW: t.budget?.budgetW ?? this.config.site.contractLimitW,
        aiW: t.snapshot.classes.ai.powerW,
        miningW: t.snapshot.classes.mining.powerW,
        auxW: t.snapshot.classes.aux.powerW,
      });
    } catch (err) {
      this.logger.warn({ err }, "history not recorded");
    }
  }

  private siteJson() {
    const snap = this.snapshot();
    return {
      siteId: snap.siteId,
      at: new Date(snap.at).toISOString(),
      powerW: snap.powerW,
      powerSource: snap.powerSource,
      budgetW: this.loop?.last?.budget?.budgetW ?? this.config.site.contractLimitW,
      budgetReason: this.loop?.last?.budget?.reason ?? CONTRACT_REASON,
      tickAgeS: this.lastTickAt > 0 ? Math.round(Date.now() - this.lastTickAt) / 1000 : null,
      budgetSource: this.loop?.last?.budget?.source ?? "contract",
      alarms: (this.loop?.last?.plan?.alarms ?? []).map((a) => a.code),
      lease: this.budgetLease
        ? { ...this.budgetLease, expiresAt: new Date(this.budgetLease.expiresAt).toISOString() }
        : null,
      mode: this.loop?.mode ?? null,
      classes: snap.classes,
      counts: snap.counts,
      hashrateThs: snap.hashrateThs,
      meter: snap.meter,
      signals: this.signals.statuses().map(signalJson),
      broker: this.brokerStatusFn?.() ?? null,
      gateway: this.gatewayHealth(),
      control: this.controlStats(),
      startedAt: new Date(this.startedAt).toISOString(),
      version: this.opts.version ?? null,
    };
  }

  private devicesJson() {
    return this.state.devicesView(
      Date.now(),
      (id) => this.settings?.isExcluded(id) ?? false,
      (id) => this.driverView(id),
    );
  }

  /** What a miner's driver knows of it: detected dialect, capabilities, what was withdrawn. */
  private driverView(id: string) {
    const m = this.miners.get(id);
    return m
      ? {
          dialect: m.dialect,
          capabilities: [...m.capabilities],
          withdrawn: m.withdrawn.map((w) => ({ capability: w.capability, reason: w.reason })),
        }
      : null;
  }

  /**
   * Sets a budget lease: a cap that ends by itself after `ttlS` (the site falls
   * back to its other sources, never to "no limit"). Wakes the loop at once.
   */
  setBudgetLease(
    watts: number,
    ttlS: number,
    reason: string,
    actor: Actor = { via: "local", who: "local" },
    now = Date.now(),
  ): BudgetLease {
    if (!(watts >= 0) || !(ttlS > 0)) throw new RangeError("a lease needs watts ≥ 0 and ttlS > 0");
    const lease: BudgetLease = { watts, expiresAt: now + ttlS * 1000, reason };
    this.lease = lease;
    this.settings?.setLease(lease, actor.who, now);
    this.auditIntent(actor, "budget/set", { watts, ttlS, reason }, { ok: true });
    this.emitEvent({
      at: now,
      kind: "lease-set",
      severity: "info",
      message: `budget lease ${formatPowerW(watts)} for ${ttlS} s by ${actor.who}: ${reason}`,
      data: { watts, ttlS, reason, by: actor.who, via: actor.via },
    });
    this.loop?.wakeNow();
    return lease;
  }

  /** Sets prices from a trusted local caller (null = unknown: no cut); the configured bounds apply. */
  setPrices(prices: Partial<Prices>): void {
    this.prices.setLocal(prices);
  }

  /** A price from a topic: taken, or refused with the reason (and alarmed). */
  offerPrice(field: PriceField, offer: PriceOffer): string | null {
    return this.prices.offer(field, offer);
  }

  /** A price message that could not be read as a price at all (malformed, unsigned, forged). */
  refusePrice(field: PriceField, code: string, error: string, source: string): void {
    this.prices.refused(field, code, error, source);
  }

  /** The prices in force now and their state (fixed, fresh, expired, unknown). */
  priceStatus() {
    return this.prices.status();
  }

  /** What a target signal's share is measured against: the mining that runs and what the agent slept. */
  private flexView(view: PlanSnapshot): FlexView {
    let runningMiningW = 0;
    for (const m of view.miners) {
      if ((m.state === "hashing" || m.state === "starting") && !m.excluded) runningMiningW += m.powerW ?? 0;
    }
    let sleptByAgentW = 0;
    for (const d of this.ledger?.view(Date.now()).devices.values() ?? []) {
      if (d.sleptAt != null) sleptByAgentW += d.sleptPowerW ?? 0;
    }
    return { powerW: view.powerW, runningMiningW, sleptByAgentW };
  }

  /** What the Modbus setpoint server reports back to the RTU. */
  private readback(): SiteReadback {
    const now = Date.now();
    const snap = this.snapshot();
    const view = this.state.planView(
      (id) => [...(this.miners.get(id)?.capabilities ?? [])],
      now,
      (id) => this.settings?.isExcluded(id) ?? false,
    );
    const ledger = this.ledger?.view(now).devices;
    let flexibleW = 0;
    for (const m of view.miners) if (isFlexible(m, ledger?.get(m.id), now)) flexibleW += m.powerW ?? 0;
    const budget = this.loop?.last?.budget ?? null;
    return {
      powerW: snap.powerW,
      budgetW: budget?.budgetW ?? this.config.site.contractLimitW,
      flexibleW,
      loopHealthy: this.unhealthyReason(now) === null,
      meterOk: snap.meter?.ok === true,
      failsafe: budget?.source === "failsafe",
    };
  }

  /** A message on a target topic of the site's own broker (the MQTT channel hands it over). */
  signalMessage(topic: string, payload: Buffer): void {
    if (topic === this.signals.ownBrokerTopic) this.signals.targetMessage(payload);
  }

  /** The topic the site's own broker must deliver for a target signal, if any. */
  get signalTopics(): string[] {
    const t = this.signals.ownBrokerTopic;
    return t ? [t] : [];
  }

  /** The economic cut as a budget source, from the latest readings and the ledger. */
  private economicSource(view: PlanSnapshot) {
    const now = Date.now();
    this.prices.expire(now);
    const prices = this.prices.current(now);
    if (prices.energyPricePerKwh === null || prices.hashpricePerThDay === null || !this.ledger) return null;
    const devices = this.ledger.view(now).devices;
    // a miner the agent has just slept may still read as hashing until its next poll:
    // counted as running too, its draw would be cut twice and one more miner shed
    const running = view.miners.filter(
      (m) => (m.state === "hashing" || m.state === "starting") && devices.get(m.id)?.sleptAt == null,
    );
    const slept = [...devices]
      .filter(([, d]) => d.sleptAt != null)
      .map(([id, d]) => ({
        id,
        sleptPowerW: d.sleptPowerW ?? null,
        efficiencyJPerTh: d.efficiencyJPerTh ?? null,
      }));
    return economicBudget(view.powerW, running, slept, prices, this.config.control.shedMarginW);
  }

  clearBudgetLease(actor: Actor = { via: "local", who: "local" }): void {
    const had = this.budgetLease !== null;
    this.lease = null;
    this.settings?.setLease(null, actor.who);
    this.auditIntent(actor, "budget/clear", {}, { ok: true, detail: had ? "cleared" : "no lease" });
    if (had) {
      this.emitEvent({
        at: Date.now(),
        kind: "lease-cleared",
        severity: "info",
        message: `budget lease cleared by ${actor.who}`,
        data: { by: actor.who, via: actor.via },
      });
    }
    this.loop?.wakeNow();
  }

  /** auto: the loop acts; hold: it plans and reports but sends nothing. Kept across restarts. */
  setMode(mode: ControlMode, actor: Actor = { via: "local", who: "local" }): IntentResult {
    const was = this.mode;
    this.settings?.setMode(mode, actor.who);
    this.loop?.setMode(mode);
    if (was !== mode) {
      this.emitEvent({
        at: Date.now(),
        kind: "mode-changed",
        severity: mode === "hold" ? "warning" : "info",
        message: `control mode ${mode} (was ${was}) by ${actor.who}`,
        data: { mode, was, by: actor.who, via: actor.via },
      });
    }
    this.loop?.wakeNow();
    return this.auditIntent(actor, "mode/set", { mode }, { ok: true });
  }

  /**
   * An operator's action on one device, through the control loop (ledger
   * first, confirmed by read-back). exclude/include take the device out of or
   * back into automatic control, kept across restarts.
   */
  async deviceAction(req: DeviceAction, actor: Actor): Promise<IntentResult> {
    const r = await runDeviceAction(req, actor, {
      config: this.config,
      state: this.state,
      settings: this.settings,
      loop: this.loop,
      ledger: this.ledger,
      locates: this.locates,
      emitEvent: (e) => this.emitEvent(e),
    }).catch(
      (err: unknown): IntentResult => ({
        ok: false,
        error: err instanceof Error ? err.message : String(err),
      }),
    );
    if (req.action === "locate") {
      const seconds = locateSeconds(req);
      this.emitEvent({
        at: Date.now(),
        kind: r.ok ? "operator-action" : "operator-action-failed",
        severity: r.ok ? "info" : "warning",
        deviceId: req.id,
        message: `locate ${seconds > 0 ? `${seconds} s` : "off"} ${req.id} by ${actor.who}: ${r.ok ? r.detail || "done" : r.error}`,
        data: { action: req.action, seconds, by: actor.who, via: actor.via },
      });
    } else if (req.action !== "exclude" && req.action !== "include") {
      this.emitEvent({
        at: Date.now(),
        kind: r.ok ? "operator-action" : "operator-action-failed",
        severity: r.ok ? "info" : "warning",
        deviceId: req.id,
        message: `${req.action}${req.value !== undefined ? ` ${formatPowerW(req.value)}` : ""} ${req.id} by ${actor.who}: ${r.ok ? "done" : r.error}`,
        data: { action: req.action, value: req.value ?? null, by: actor.who, via: actor.via },
      });
    }
    return this.auditIntent(actor, "device/action", req, r);
  }

  /** Opens the ledger and builds the control loop over the drivers. */
  private startControl(): void {
    const c = this.config.control;
    mkdirSync(dirname(this.config.store.path), { recursive: true });
    const ledger = new Ledger(this.config.store.path, {
      // a wake's record stays while its miner may still be ramping (its model's wake-up time)
      restoreHistoryMs: Math.max(60_000, c.restoreStaggerS * 1000, longestWakeUpMs(this.config)),
    });
    ledger.open();
    this.ledger = ledger;
    const settings = new Settings(this.config.store.path);
    settings.open();
    this.settings = settings;
    this.locates = new LocateTimers({
      store: settings,
      logger: this.logger.child({ component: "locate" }),
      // the agent's own off goes the operator's way: ledger, audit ("agent", local), event
      turnOff: async (deviceId, reason) =>
        (await this.deviceAction({ id: deviceId, action: "locate", seconds: 0, reason }, AGENT_ACTOR)).ok,
    });
    const events = new EventLog(this.config.store.path);
    events.open();
    this.eventLog = events;
    const audit = new AuditLog(this.config.store.path);
    audit.open();
    this.auditLog = audit;
    const stored = settings.lease;
    if (stored && stored.expiresAt > Date.now()) this.lease = stored;
    this.prune();
    this.pruneTimer = setInterval(() => this.prune(), PRUNE_EVERY_MS);
    this.pruneTimer.unref();
    this.storeSize = new StoreSizeWatch({ path: this.config.store.path, emit: (e) => this.emitEvent(e) });
    this.storeSize.start();
    const actuator = driverActuator(
      this.miners,
      this.gpuNodes,
      (nodeId, index) => {
        const gpu = this.state.gpuNodes.get(nodeId)?.gpus.find((g) => g.index === index);
        return gpu?.defaultPowerLimitW ?? null;
      },
      (id) => {
        const r = this.state.miners.get(id)?.reading ?? null;
        return r && Date.now() - r.at <= FRESH_READING_MS ? r : null;
      },
      (nodeId) => {
        const g = this.config.gpuNodes.find((x) => x.id === nodeId);
        return g?.drainCommand && g.resumeCommand
          ? { command: g.drainCommand, resumeCommand: g.resumeCommand, timeoutS: g.commandTimeoutS }
          : null;
      },
      (nodeId) => this.config.gpuNodes.find((x) => x.id === nodeId)?.lockClocksMHz ?? null,
    );
    const log = this.logger.child({ component: "control" });
    this.loop = new ControlLoop({
      getSnapshot: () =>
        this.state.planView(
          (id) => [...(this.miners.get(id)?.capabilities ?? [])],
          Date.now(),
          (id) => settings.isExcluded(id),
        ),
      budgetInputs: (snapshot) => ({
        lease: this.lease,
        economic: this.economicSource(snapshot),
        siteMeter: this.config.meters.some((m) => m.role === "site"),
        signals: signalSources(this.signals.statuses(), this.flexView(snapshot), c.shedMarginW),
      }),
      actuator,
      ledger,
      config: { site: this.config.site, control: c },
      logger: log,
      actionTimeoutMs: ACTION_TIMEOUT_MS,
      // a drain command has its own deadline (the node ends it there): the loop waits a little longer
      actionTimeoutFor: (a) => {
        if (a.kind !== "drainGpuNode" && a.kind !== "resumeGpuNode") return null;
        const g = this.config.gpuNodes.find((x) => x.id === a.deviceId);
        return g ? g.commandTimeoutS * 1000 + DRAIN_DEADLINE_SLACK_MS : null;
      },
      // an emergency shed reaches the whole fleet at the poller's fan-out, not 64 at a time
      concurrency: this.opts.minerConcurrency ?? DEFAULT_MINER_CONCURRENCY,
      onTickEnd: (_r, ms) => {
        tickDuration.observe(ms / 1000);
        this.tickTimes.add(ms);
      },
      onEvent: (e) => {
        this.controlEvent(e);
        if (e.type === "outcome") {
          const fields = {
            device: e.action.deviceId,
            kind: e.action.kind,
            valueW: e.action.valueW,
            ok: e.ok,
          };
          if (e.ok) log.info(fields, `${e.action.kind} ${e.action.deviceId} confirmed`);
          else
            log.warn(
              { ...fields, reason: e.reason },
              `${e.action.kind} ${e.action.deviceId} failed: ${e.reason}`,
            );
        }
      },
    });
    if (settings.mode === "hold") {
      this.loop.setMode("hold");
      log.warn("control mode is hold (kept from before the restart): planning, not acting");
    }
  }

  private prune(): void {
    const now = Date.now();
    try {
      const actions = this.ledger?.prune(now - KEEP_ACTIONS_MS) ?? 0;
      const events = this.eventLog?.prune(now - KEEP_EVENTS_MS, KEEP_EVENTS_MAX) ?? 0;
      const audit = this.auditLog?.prune(now - KEEP_AUDIT_MS) ?? 0;
      if (actions + events + audit > 0) this.logger.info({ actions, events, audit }, "store pruned");
    } catch (err) {
      this.logger.warn({ err }, "store prune failed");
    }
  }

  /** A control outcome as a site event (an operator's is reported by deviceAction, with who asked). */
  private controlEvent(e: ControlEvent): void {
    const event = outcomeEvent(e) ?? programEvent(e);
    if (event) this.emitEvent(event);
  }

  /** Logs and events a device's outage when it begins, when its kind changes, and when it ends. */
  private noteDeviceProblem(id: string, problem: DeviceProblem | null): void {
    const change = this.outages.note(id, problem, Date.now());
    if (!change) return;
    const log = this.logger.child({ device: id });
    if (change.kind === "recovered") log.info(change.event.data ?? {}, change.event.message);
    else log.warn({ code: problem?.code, reason: problem?.message }, "device degraded");
    this.emitEvent(change.event);
  }
}

function summaryLine(snap: SiteSnapshot, minerCount: number): string {
  const power =
    snap.powerW === null ? "site power unknown" : `site ${formatPowerW(snap.powerW)} (${snap.powerSource})`;
  const meter = snap.meter
    ? snap.meter.ok
      ? `meter ok ${snap.meter.ageS}s`
      : snap.meter.ageS === null
        ? "meter NO READING yet"
        : `meter STALE ${snap.meter.ageS}s`
    : "no site meter";
  const c = snap.counts;
  return `${power} · ${meter} · miners ${c.hashing}/${minerCount} hashing, ${c.sleeping} sleeping, ${c.starting} starting, ${c.faulted} faulted, ${c.unreachable} unreachable · ${formatHashrateThs(snap.hashrateThs)}`;
}

/** A signal as /api/site shows it: times as ISO-8601. */
function signalJson(s: SignalStatus) {
  return {
    name: s.name,
    kind: s.kind,
    state: s.state,
    value: s.budgetW ?? (s.keepFraction != null ? s.keepFraction : null),
    budgetW: s.budgetW,
    keepFraction: s.keepFraction ?? null,
    since: new Date(s.since).toISOString(),
    reason: s.reason,
  };
}
