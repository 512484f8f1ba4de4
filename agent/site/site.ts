// Wires a resolved config into running parts and runs them in order: stores →
// drivers and pollers → HTTP → control loop → signals → MQTT and exports →
// host health; stop() takes them down the other way round. Constructors only
// assign. What each part does lives beside it in agent/site/: the clock the
// control loop beats (clock.ts) and its duties (watches.ts, retention.ts),
// the event bus, the audit, the intents (lease, mode, device actions), the
// views the channels read, and the ports they read them through. The public
// methods here are that wiring, one line each: the MQTT channel's port
// (mqtt/types.ts), and what the CLI, benches and tests call.

import type { SiteConfig } from "../../config/schema.ts";
import type { Prices } from "../control/budget.ts";
import type { Actor, DeviceAction, IntentResult } from "../control/intents.ts";
import type { ControlLoop, ControlMode } from "../control/loop.ts";
import type { PriceField } from "../control/prices.ts";
import type { BudgetLease, LeaseRequest } from "../control/types.ts";
import { CommandFirst } from "../devices/command-first.ts";
import { LocateEnds } from "../devices/locate-ends.ts";
import type { SweepStats } from "../devices/poller.ts";
import {
  buildPollers,
  DEFAULT_MINER_CONCURRENCY,
  type DevicePollers,
  minerPollPeriods,
  type PollDriver,
} from "../devices/pollers.ts";
import { startExports } from "../exports/index.ts";
import type { RunningExport } from "../exports/types.ts";
import type { HttpServer, Operator } from "../http/server.ts";
import { keepSessionsOf } from "../http/sessions.ts";
import type { DeviceDetail } from "../http/types.ts";
import { MqttChannel } from "../mqtt/channel.ts";
import type { HeapBurst } from "../runtime/heap.ts";
import { type GatewayHealth, GatewayMonitor } from "../runtime/host-health.ts";
import type { Logger } from "../runtime/logger.ts";
import type { AuditLog } from "../store/audit.ts";
import type { NewSiteEvent, SiteEvent } from "../store/events.ts";
import type { Ledger } from "../store/ledger.ts";
import { buildControlLoop } from "./control.ts";
import { startHttp } from "./http.ts";
import { assemble, type Handed, type Running, type SiteParts } from "./parts.ts";
import { exportPort, httpPort } from "./ports.ts";
import type { PriceOffer, PriceRefusal } from "./prices.ts";
import { type SiteSnapshot, SiteState } from "./state.ts";
import type { BrokerStatus, SiteTick } from "./tick.ts";
import type { Curtailment } from "./views.ts";

export type { PollDriver } from "../devices/pollers.ts";
export type { BrokerStatus, SiteTick } from "./tick.ts";

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
  /** How the heap takes a fleet-wide shed (runtime/heap.ts HeapBurst; `wattkeeper run` gives one). */
  heapBurst?: HeapBurst;
}

/**
 * What outlives a reload: operator sessions (nobody is logged out by a config
 * change), the latest readings (the new site does not start blind and raise a
 * false failsafe), and what was already reported (open outages, the budget and
 * alarms in force), so a reload is not news in the event log.
 */
export interface SiteHandoff extends Handed {
  operators: readonly Operator[];
  state: SiteState;
}

/** Who the agent's own actions are from (a locate it ends when its time is up), in the audit log. */
const AGENT_ACTOR: Actor = { via: "local", who: "agent" };

export class Site {
  readonly config: SiteConfig;
  readonly state: SiteState;
  private readonly logger: Logger;
  private readonly opts: SiteOptions;
  private readonly startedAt = Date.now();
  private readonly p: SiteParts;
  private readonly run: Running = { devices: null, loop: null, locates: null, gateway: null, broker: null };
  private http: HttpServer | null = null;
  private mqtt: MqttChannel | null = null;
  private exports: RunningExport | null = null;

  constructor(config: SiteConfig, logger: Logger, opts: SiteOptions = {}) {
    this.config = config;
    this.logger = logger;
    this.opts = opts;
    this.state = new SiteState(config);
    this.p = assemble({
      config,
      logger,
      state: this.state,
      run: this.run,
      handoff: opts.handoff ?? null,
      version: opts.version ?? null,
      startedAt: this.startedAt,
      deviceHistoryEveryMs: opts.deviceHistoryEveryMs,
    });
  }

  async start(): Promise<void> {
    const { config, logger: log, opts } = this;
    const h = opts.handoff;
    if (h) {
      this.state.adopt(h.state);
      keepSessionsOf(this.p.handed.sessions, h.operators, config.http.operators);
    }
    const siteMeters = new Set(config.meters.filter((m) => m.role === "site").map((m) => m.id));
    // miner commands go out before miner polls: both sides hold this one
    const commandFirst = new CommandFirst();
    const devices = buildPollers({
      config,
      opts,
      state: this.state,
      commandFirst,
      logger: log,
      onTransition: (id, problem) => this.p.watches.deviceProblem(id, problem),
      onSweep: (driver, stats) => this.p.sweeps.done(driver, stats),
      onMeterReading: (id, r) => {
        if (r.ok && r.powerW !== null && siteMeters.has(id) && this.run.loop?.overShedLine(r.powerW))
          this.run.loop.wakeNow();
      },
    });
    this.run.devices = devices;
    this.p.stores.open();
    const listen = opts.httpListen === undefined ? config.http.listen : opts.httpListen;
    if (listen) {
      const { minerConcurrency } = opts;
      const { sessions } = this.p.handed;
      this.http = await startHttp({
        config,
        listen,
        minerConcurrency,
        sessions,
        logger: log,
        site: httpPort(this.p),
      });
    }
    this.startControl(devices, commandFirst);
    await this.p.signals.start();
    if (config.mqtt) {
      const version = opts.version ?? "unknown";
      const mqttLog = log.child({ component: "mqtt" });
      this.mqtt = new MqttChannel(this, config.mqtt, { logger: mqttLog, version, startedAt: this.startedAt });
      this.mqtt.start();
    }
    if (config.exports) {
      const o = { logger: log.child({ component: "exports" }), version: opts.version ?? "unknown" };
      this.exports = await startExports(exportPort(this.p), o);
    }
    this.run.gateway = new GatewayMonitor({
      statePath: config.store.path,
      logger: log.child({ component: "gateway" }),
    });
    this.run.gateway.start();
    // the loop's first tick waits for the first meter sweep (bounded by meterStaleS): at boot
    // "no reading yet" is not a stale meter, and must not raise a failsafe alarm
    const firstMeterSweep =
      config.meters.length > 0 && !this.state.snapshot(Date.now()).meter?.ok
        ? this.p.sweeps.first("modbus", config.control.meterStaleS * 1000)
        : Promise.resolve();
    devices.meter.start();
    devices.miner.start();
    devices.gpu.start();
    await firstMeterSweep;
    this.run.locates?.start();
    this.p.clock.start();
    this.run.loop?.start();
    // the first beat at once: the site is live (healthy, publishing) when start() resolves
    this.p.clock.beat();
    const { miners, meters, gpuNodes, control } = config;
    log.info(
      { miners: miners.length, meters: meters.length, gpuNodes: gpuNodes.length, tickS: control.tickS },
      `site ${config.site.id} started`,
    );
  }

  async stop(): Promise<void> {
    // the broker link first: status offline, no telemetry of a site going away; events of
    // the stop itself (a last sweep's degraded devices) wait in the outbox for the next start
    await this.mqtt?.disconnect();
    await this.exports?.stop();
    this.exports = null;
    this.p.clock.stop();
    await this.p.signals.stop();
    // the locate ends stay stored: the next start turns those LEDs off when their time is up
    this.run.locates?.stop();
    this.run.locates = null;
    // the loop first: it must not act on devices whose pollers are going away
    await this.run.loop?.stop();
    this.run.loop = null;
    const d = this.run.devices;
    this.run.devices = null;
    if (d) {
      await Promise.all([d.miner.stop(), d.meter.stop(), d.gpu.stop()]);
      await Promise.all([...d.gpuNodes.values()].map((n) => n.stop()));
      await Promise.all(d.connections.map((c) => c.close()));
      await Promise.all([...d.miners.values()].map((m) => m.close()));
    }
    await this.http?.stop();
    this.http = null;
    await this.run.gateway?.stop();
    this.run.gateway = null;
    this.mqtt?.close();
    this.mqtt = null;
    this.p.stores.close();
    this.logger.info("site stopped");
  }

  /** What the site that replaces this one on a reload takes over (call before stop()). */
  handoff(): SiteHandoff {
    return { ...this.p.handed, operators: this.config.http.operators, state: this.state };
  }

  /** The bound HTTP address (tests). */
  httpAddress() {
    return this.http?.address() ?? null;
  }

  /** A fresh snapshot (cheap: one pass over the latest readings). */
  snapshot(): SiteSnapshot {
    return this.p.views.snapshot();
  }

  /** Why the agent is not healthy (what /healthz says), or null. */
  unhealthyReason(now: number = Date.now()): string | null {
    return this.p.clock.unhealthyReason(now);
  }

  /** Called every beat of the site's clock with the snapshot, the budget and the mode. Returns an unsubscribe. */
  onTick(fn: (t: SiteTick) => void): () => void {
    return this.p.clock.onTick(fn);
  }

  /** Called after each poll sweep of a driver (device telemetry per poll cycle). Returns an unsubscribe. */
  onSweep(fn: (driver: PollDriver, stats: SweepStats) => void): () => void {
    return this.p.sweeps.on(fn);
  }

  /** Called for every stored event (actions, outcomes, alarms, operator actions). Returns an unsubscribe. */
  onEvent(fn: (e: SiteEvent) => void): () => void {
    return this.p.events.on(fn);
  }

  /** CPU, memory, disk and temperature of the gateway, sampled every 30 s. */
  gatewayHealth(): GatewayHealth | null {
    return this.run.gateway?.latest() ?? null;
  }

  /** The MQTT link reports through this; /api/site shows it. */
  setBrokerStatus(fn: (() => BrokerStatus) | null): void {
    this.run.broker = fn;
  }

  /** Newest first. */
  recentEvents(limit = 100): SiteEvent[] {
    return this.p.events.recent(limit);
  }

  /** Stored events after an id, oldest first (SSE catch-up). */
  eventsAfter(id: number, limit = 1000): SiteEvent[] {
    return this.p.events.after(id, limit);
  }

  /** The audit log (HTTP and MQTT record refusals at their boundary here). */
  get audit(): AuditLog | null {
    return this.p.audit.log;
  }

  get mode(): ControlMode {
    return this.p.intents.mode;
  }

  /** What the agent holds curtailed, from the ledger (MQTT `state`). */
  curtailment(now: number = Date.now()): Curtailment {
    return this.p.views.curtailment(now);
  }

  /** The lease in force, if any (expired ones are not in force). */
  get budgetLease(): BudgetLease | null {
    return this.p.intents.budgetLease;
  }

  /** Stores an event and hands it to listeners. Never throws. */
  emitEvent(e: NewSiteEvent): SiteEvent | null {
    return this.p.events.emit(e);
  }

  /** A cap that ends by itself after `ttlS`; wakes the loop at once. */
  setBudgetLease(lease: LeaseRequest, actor?: Actor, now?: number): BudgetLease {
    return this.p.intents.setBudgetLease(lease, actor, now);
  }

  clearBudgetLease(actor?: Actor): void {
    this.p.intents.clearBudgetLease(actor);
  }

  /** auto: the loop acts; hold: it plans and reports but sends nothing. Kept across restarts. */
  setMode(mode: ControlMode, actor?: Actor): IntentResult {
    return this.p.intents.setMode(mode, actor);
  }

  /** An operator's action on one device, through the control loop; audited. */
  deviceAction(req: DeviceAction, actor: Actor): Promise<IntentResult> {
    return this.p.intents.deviceAction(req, actor);
  }

  /** One device in full for the detail page; null for an unknown id. */
  deviceDetail(id: string, now: number = Date.now()): DeviceDetail | null {
    return this.p.views.deviceDetail(id, now);
  }

  /** Sets prices from a trusted local caller (null = unknown: no cut); the configured bounds apply. */
  setPrices(prices: Partial<Prices>): void {
    this.p.prices.setLocal(prices);
  }

  /** A price from a topic: taken, or refused with the reason (and alarmed). */
  offerPrice(field: PriceField, offer: PriceOffer): string | null {
    return this.p.prices.offer(field, offer);
  }

  /** A price message that could not be read as a price at all (malformed, unsigned, forged). */
  refusePrice(field: PriceField, refusal: PriceRefusal, source: string): void {
    this.p.prices.refused(field, refusal, { source });
  }

  /** The prices in force now and their state (fixed, fresh, expired, unknown). */
  priceStatus() {
    return this.p.prices.status();
  }

  /** A message on a target topic of the site's own broker (the MQTT channel hands it over). */
  signalMessage(topic: string, payload: Buffer): void {
    if (topic === this.p.signals.ownBrokerTopic) this.p.signals.targetMessage(payload);
  }

  /** The topic the site's own broker must deliver for a target signal, if any. */
  get signalTopics(): string[] {
    const t = this.p.signals.ownBrokerTopic;
    return t ? [t] : [];
  }

  /** The ledger and the loop while running (tests read them). */
  private get ledger(): Ledger | null {
    return this.p.stores.ledger;
  }

  private get loop(): ControlLoop | null {
    return this.run.loop;
  }

  /** Takes back the lease and mode a previous run stored, and builds the loop (it starts later). */
  private startControl(devices: DevicePollers, commandFirst: CommandFirst): void {
    const { ledger, settings } = this.p.stores;
    if (!ledger || !settings) throw new Error("the site's stores are not open");
    this.p.intents.restore();
    this.run.locates = new LocateEnds({
      store: settings,
      logger: this.logger.child({ component: "locate" }),
      // the agent's own off goes the operator's way: ledger, audit ("agent", local), event
      turnOff: async (deviceId, reason) =>
        (await this.deviceAction({ id: deviceId, action: "locate", seconds: 0, reason }, AGENT_ACTOR)).ok,
    });
    this.run.loop = buildControlLoop({
      config: this.config,
      state: this.state,
      logger: this.logger,
      ledger,
      settings,
      miners: devices.miners,
      gpuNodes: devices.gpuNodes,
      prices: this.p.prices,
      events: this.p.events,
      tickTimes: this.p.tickTimes,
      concurrency: this.opts.minerConcurrency ?? DEFAULT_MINER_CONCURRENCY,
      commandFirst,
      heapBurst: this.opts.heapBurst,
      minerPollMs: minerPollPeriods(this.config, this.opts.minerPollMs).pollMs,
      lease: () => this.p.intents.leaseInput,
      signals: () => this.p.signals.statuses(),
      beat: () => this.p.clock.beat(),
    });
  }
}
