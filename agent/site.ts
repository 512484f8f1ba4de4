// Wires a resolved config into running parts: drivers → pollers → snapshot →
// tick (summary log line, health) → HTTP. start() and stop() run in order;
// constructors only assign. The control loop and MQTT hang on the same tick
// in later stages.

import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { SiteConfig } from "../config/schema.ts";
import { formatPowerW } from "../config/units.ts";
import { createMiner, type Miner } from "../drivers/cgminer/miner.ts";
import { describeEndpoint, ModbusConnection, type ModbusEndpoint } from "../drivers/modbus/client.ts";
import { ModbusMeter } from "../drivers/modbus/meter.ts";
import { GpuNode } from "../drivers/nvidia/node.ts";
import type { GpuNodeReading } from "../drivers/nvidia/types.ts";
import type { MeterReading, MinerReading } from "../drivers/types.ts";
import { driverActuator } from "./control/actuator.ts";
import { economicBudget, type Prices } from "./control/budget.ts";
import { ControlLoop } from "./control/loop.ts";
import type { BudgetLease } from "./control/types.ts";
import { HttpServer } from "./http/server.ts";
import type { Logger } from "./logger.ts";
import { Poller } from "./poller.ts";
import { type SiteSnapshot, SiteState } from "./state.ts";
import { Ledger } from "./store/ledger.ts";

export interface SiteOptions {
  /** Miner sweep period; the first sweep starts at once. */
  minerPollMs?: number;
  meterPollMs?: number;
  minerConcurrency?: number;
  /** Overrides config.http.listen (tests use port 0). */
  httpListen?: { host: string; port: number } | null;
  version?: string;
}

export const DEFAULT_MINER_POLL_MS = 5000;
export const DEFAULT_METER_POLL_MS = 1000;
export const DEFAULT_MINER_CONCURRENCY = 256;
/** Silence between frames on a serial bus or behind an RTU gateway. */
export const DEFAULT_SERIAL_GAP_MS = 20;
/** GPU nodes change slowly and each read runs nvidia-smi on the node: every 10 s. */
export const GPU_POLL_MS = 10_000;

export class Site {
  readonly config: SiteConfig;
  readonly state: SiteState;
  private readonly logger: Logger;
  private readonly opts: SiteOptions;
  private minerPoller: Poller<MinerReading> | null = null;
  private meterPoller: Poller<MeterReading> | null = null;
  private gpuPoller: Poller<GpuNodeReading> | null = null;
  private readonly gpuNodes = new Map<string, GpuNode>();
  private ledger: Ledger | null = null;
  /** The remote budget override in force (set through MQTT `budget/set`, or locally). */
  private lease: BudgetLease | null = null;
  /** Energy price and hashprice for the economic cut: fixed in the config, or set as they arrive. */
  private prices: Prices = { energyPricePerKwh: null, hashpricePerThDay: null };
  private loop: ControlLoop | null = null;
  private connections: ModbusConnection[] = [];
  private http: HttpServer | null = null;
  private tickTimer: NodeJS.Timeout | null = null;
  private lastTickAt = 0;
  private readonly startedAt = Date.now();
  /** Per-device reason last logged, so a failing device is logged once, not every sweep. */
  private readonly loggedReason = new Map<string, string | null>();
  /** One driver per configured miner, by id. */
  private readonly miners = new Map<string, Miner>();

  constructor(config: SiteConfig, logger: Logger, opts: SiteOptions = {}) {
    this.config = config;
    this.logger = logger;
    this.opts = opts;
    this.state = new SiteState(config);
  }

  async start(): Promise<void> {
    const log = this.logger;
    this.minerPoller = this.buildMinerPoller();
    this.meterPoller = this.buildMeterPoller();
    this.gpuPoller = this.buildGpuPoller();

    const listen = this.opts.httpListen === undefined ? this.config.http.listen : this.opts.httpListen;
    if (listen) {
      this.http = new HttpServer({
        host: listen.host,
        port: listen.port,
        logger: log.child({ component: "http" }),
        api: {
          site: () => this.siteJson(),
          devices: () => this.devicesJson(),
          unhealthyReason: () => this.unhealthyReason(),
        },
      });
      await this.http.start();
      const addr = this.http.address();
      log.info({ component: "http", listen: addr }, `http listening on ${addr?.address}:${addr?.port}`);
    }

    this.startControl();
    this.meterPoller.start();
    this.minerPoller.start();
    this.gpuPoller.start();
    this.loop?.start();
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
    if (this.tickTimer) clearTimeout(this.tickTimer);
    this.tickTimer = null;
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
    this.ledger?.close();
    this.ledger = null;
    this.logger.info("site stopped");
  }

  /** The bound HTTP address (tests). */
  httpAddress() {
    return this.http?.address() ?? null;
  }

  /** A fresh snapshot (cheap: one pass over the latest readings). */
  snapshot(): SiteSnapshot {
    return this.state.snapshot();
  }

  private tick(): void {
    const snap = this.state.snapshot();
    this.lastTickAt = snap.at;
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

  private unhealthyReason(): string | null {
    const stallMs = Math.max(3 * this.config.control.tickS * 1000, 10_000);
    const age = Date.now() - this.lastTickAt;
    return age > stallMs ? `no tick for ${Math.round(age / 1000)} s` : null;
  }

  private siteJson() {
    const snap = this.snapshot();
    return {
      siteId: snap.siteId,
      at: new Date(snap.at).toISOString(),
      powerW: snap.powerW,
      powerSource: snap.powerSource,
      budgetW: this.loop?.last?.budget?.budgetW ?? this.config.site.contractLimitW,
      budgetReason: this.loop?.last?.budget?.reason ?? "contract limit",
      mode: this.loop?.mode ?? null,
      classes: snap.classes,
      counts: snap.counts,
      hashrateThs: snap.hashrateThs,
      meter: snap.meter,
      broker: null,
      startedAt: new Date(this.startedAt).toISOString(),
      version: this.opts.version ?? null,
    };
  }

  private devicesJson() {
    return this.state.devicesView();
  }

  /**
   * Sets a budget lease: a cap that ends by itself after `ttlS` (the site falls
   * back to its other sources, never to "no limit"). Wakes the loop at once.
   */
  setBudgetLease(watts: number, ttlS: number, reason: string, now = Date.now()): BudgetLease {
    if (!(watts >= 0) || !(ttlS > 0)) throw new RangeError("a lease needs watts ≥ 0 and ttlS > 0");
    this.lease = { watts, expiresAt: now + ttlS * 1000, reason };
    this.loop?.wakeNow();
    return this.lease;
  }

  /** Updates the prices the economic cut works with (null = unknown: no cut). */
  setPrices(prices: Partial<Prices>): void {
    this.prices = { ...this.prices, ...prices };
    this.loop?.wakeNow();
  }

  /** The economic cut as a budget source, from the latest readings and the ledger. */
  private economicSource() {
    if (this.prices.energyPricePerKwh === null || this.prices.hashpricePerThDay === null || !this.ledger)
      return null;
    const now = Date.now();
    const view = this.state.planView(() => [], now);
    const running = view.miners.filter((m) => m.state === "hashing" || m.state === "starting");
    const slept = [...this.ledger.view(now).devices]
      .filter(([, d]) => d.sleptAt != null)
      .map(([id, d]) => ({
        id,
        sleptPowerW: d.sleptPowerW ?? null,
        efficiencyJPerTh: d.efficiencyJPerTh ?? null,
      }));
    return economicBudget(view.powerW, running, slept, this.prices, this.config.control.shedMarginW);
  }

  clearBudgetLease(): void {
    this.lease = null;
    this.loop?.wakeNow();
  }

  /** Opens the ledger and builds the control loop over the drivers. */
  private startControl(): void {
    const c = this.config.control;
    this.prices = {
      energyPricePerKwh: c.economics?.energyPricePerKwh ?? null,
      hashpricePerThDay: c.economics?.hashpricePerThDay ?? null,
    };
    mkdirSync(dirname(this.config.store.path), { recursive: true });
    const ledger = new Ledger(this.config.store.path, {
      restoreHistoryMs: Math.max(60_000, c.restoreStaggerS * 1000),
    });
    ledger.open();
    this.ledger = ledger;
    const actuator = driverActuator(this.miners, this.gpuNodes, (nodeId, index) => {
      const gpu = this.state.gpuNodes.get(nodeId)?.gpus.find((g) => g.index === index);
      return gpu?.defaultPowerLimitW ?? null;
    });
    const log = this.logger.child({ component: "control" });
    this.loop = new ControlLoop({
      getSnapshot: () => this.state.planView((id) => [...(this.miners.get(id)?.capabilities ?? [])]),
      budgetInputs: () => ({ lease: this.lease, economic: this.economicSource() }),
      actuator,
      ledger,
      config: { site: this.config.site, control: c },
      logger: log,
      // a miner write confirms by reading back within its own deadline
      actionTimeoutMs: 45_000,
      onEvent: (e) => {
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
  }

  /** The lean view the planner works on, from the latest readings and each driver's capabilities. */
  private buildMinerPoller(): Poller<MinerReading> {
    const targets = this.config.miners.map((m) => {
      const miner = createMiner(
        {
          host: m.host,
          port: m.port,
          webPort: m.webPort,
          grpcPort: m.grpcPort,
          nominalW: m.nominalW,
          credentials: m.credentials,
        },
        m.dialect,
      );
      this.miners.set(m.id, miner);
      return {
        id: m.id,
        read: async (signal: AbortSignal) => {
          const before = miner.dialect;
          const reading = await miner.read(signal);
          if (before === null && miner.dialect !== null) {
            this.logger
              .child({ device: m.id })
              .debug({ dialect: miner.dialect, capabilities: [...miner.capabilities] }, "dialect detected");
          }
          return reading;
        },
      };
    });
    return new Poller<MinerReading>({
      name: "cgminer",
      targets,
      intervalMs: this.opts.minerPollMs ?? DEFAULT_MINER_POLL_MS,
      concurrency: this.opts.minerConcurrency ?? DEFAULT_MINER_CONCURRENCY,
      timeoutMs: 10_000,
      isFailure: (r) => r.state === "unreachable",
      onReading: (id, r) => {
        this.state.setMinerReading(id, r);
        this.logTransition(id, r.state === "hashing" ? null : `${r.state}: ${r.reason ?? ""}`);
      },
      onError: (id, err) => this.logTransition(id, `read failed: ${err.message}`),
      logger: this.logger.child({ component: "poller", driver: "cgminer" }),
    });
  }

  private buildMeterPoller(): Poller<MeterReading> {
    // meters behind one gateway or on one serial bus share a connection, read one at a time
    const byEndpoint = new Map<string, ModbusConnection>();
    const targets = this.config.meters.map((m) => {
      const endpoint: ModbusEndpoint =
        m.modbus.kind === "rtu"
          ? {
              kind: "rtu",
              path: m.modbus.path,
              baudRate: m.modbus.baudRate,
              parity: m.modbus.parity,
              dataBits: m.modbus.dataBits,
              stopBits: m.modbus.stopBits,
            }
          : { kind: m.modbus.kind, host: m.modbus.host, port: m.modbus.port };
      const key = describeEndpoint(endpoint);
      let conn = byEndpoint.get(key);
      if (!conn) {
        // a serial line needs silence between frames; a Modbus TCP device does not
        const gapMs = m.gapMs ?? (m.modbus.kind === "tcp" ? 0 : DEFAULT_SERIAL_GAP_MS);
        conn = new ModbusConnection(endpoint, { timeoutMs: m.timeoutMs, gapMs });
        byEndpoint.set(key, conn);
      }
      const meter = new ModbusMeter(conn, m.modbus.unitId, m.profile);
      return { id: m.id, read: () => meter.read() };
    });
    this.connections = [...byEndpoint.values()];
    return new Poller<MeterReading>({
      name: "modbus",
      targets,
      intervalMs: this.opts.meterPollMs ?? DEFAULT_METER_POLL_MS,
      concurrency: Math.max(1, byEndpoint.size),
      timeoutMs: 15_000,
      isFailure: (r) => !r.ok,
      // a meter is retried every period: it is the loop's authority, backing off would hide it
      backoff: { baseMs: 0, maxMs: 0 },
      onReading: (id, r) => {
        this.state.setMeterReading(id, r);
        this.logTransition(id, r.ok ? null : (r.reason ?? "read failed"));
      },
      onError: (id, err) => this.logTransition(id, `read failed: ${err.message}`),
      logger: this.logger.child({ component: "poller", driver: "modbus" }),
    });
  }

  private buildGpuPoller(): Poller<GpuNodeReading> {
    const targets = this.config.gpuNodes.map((g) => {
      const log = this.logger.child({ device: g.id });
      const node = new GpuNode(
        {
          id: g.id,
          host: g.host,
          port: g.port,
          user: g.user,
          privateKey: g.privateKey,
          privateKeyFile: g.privateKeyFile,
          hostKeySha256: g.hostKeySha256,
          knownHostsFile: g.knownHostsFile,
          floorW: g.floorW,
        },
        { logger: log, onEvent: (e) => log.warn({ event: e.kind, gpu: e.index }, e.message) },
      );
      this.gpuNodes.set(g.id, node);
      return { id: g.id, read: (signal: AbortSignal) => node.read(signal) };
    });
    return new Poller<GpuNodeReading>({
      name: "nvidia",
      targets,
      intervalMs: GPU_POLL_MS,
      concurrency: 16,
      timeoutMs: 30_000,
      isFailure: (r) => r.state === "unreachable",
      onReading: (id, r) => {
        this.state.setGpuReading(id, r);
        this.logTransition(id, r.state === "ok" ? null : `${r.state}: ${r.reason ?? ""}`);
      },
      onError: (id, err) => this.logTransition(id, `read failed: ${err.message}`),
      logger: this.logger.child({ component: "poller", driver: "nvidia" }),
    });
  }

  /** Logs a device's problem when it appears or changes, and its recovery, never every sweep. */
  private logTransition(id: string, reason: string | null): void {
    const previous = this.loggedReason.get(id) ?? null;
    if (previous === reason) return;
    this.loggedReason.set(id, reason);
    const log = this.logger.child({ device: id });
    if (reason === null) log.info({ was: previous }, "device recovered");
    else log.warn({ reason }, "device degraded");
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
  return `${power} · ${meter} · miners ${c.hashing}/${minerCount} hashing, ${c.sleeping} sleeping, ${c.starting} starting, ${c.faulted} faulted, ${c.unreachable} unreachable · ${snap.hashrateThs.toFixed(1)} TH/s`;
}
