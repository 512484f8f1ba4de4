// The device pollers of a site, built from its config: one Poller per driver
// (CGMiner API miners, Modbus meters grouped by shared line or gateway, GPU
// nodes over SSH), each with its pool size, deadline and backoff, writing
// readings into the site state. The drivers they create are handed back, so
// the control loop's actuator acts through the same connections.
import { DEFAULT_MINER_DETAIL_POLLS, type SiteConfig } from "../../config/schema.ts";
import { createMiner, type Miner } from "../../drivers/cgminer/miner.ts";
import { describeEndpoint, ModbusConnection, type ModbusEndpoint } from "../../drivers/modbus/client.ts";
import { ModbusMeter } from "../../drivers/modbus/meter.ts";
import { GpuNode } from "../../drivers/nvidia/node.ts";
import type { GpuNodeReading } from "../../drivers/nvidia/types.ts";
import { printable } from "../../drivers/printable.ts";
import type { MeterReading, MinerReading, PoolInfo } from "../../drivers/types.ts";
import type { Logger } from "../runtime/logger.ts";
import type { SiteState } from "../site/state.ts";
import type { CommandFirst } from "./command-first.ts";
import { modelsOf } from "./models.ts";
import { type DeviceProblem, reasonCode } from "./outages.ts";
import { Poller, type PollTarget, type SweepStats } from "./poller.ts";

export const DEFAULT_MINER_POLL_MS = 5000;
const DEFAULT_METER_POLL_MS = 1000;
export const DEFAULT_MINER_CONCURRENCY = 256;
/**
 * The fewest miner reads a sweep keeps in flight (sweep-width.ts). At 64, the last read of a
 * fleet of 5,000 that answers in 50 ms on average starts after about 4 s: over 60 % of the
 * default period, so the next sweep reads 128 at a time.
 */
export const MIN_MINER_CONCURRENCY = 64;
/** Silence between frames on a serial bus or behind an RTU gateway. */
const DEFAULT_SERIAL_GAP_MS = 20;
/** GPU nodes change slowly and each read runs nvidia-smi on the node: every 10 s. */
const GPU_POLL_MS = 10_000;

export type PollDriver = "cgminer" | "modbus" | "nvidia";

export interface PollerDeps {
  config: SiteConfig;
  opts: { minerPollMs?: number; meterPollMs?: number; minerConcurrency?: number };
  state: SiteState;
  logger: Logger;
  /** A device's problem at each reading (or null when fine), for one event per outage. */
  onTransition(id: string, problem: DeviceProblem | null): void;
  onSweep(driver: PollDriver, stats: SweepStats): void;
  /** Every meter reading as it arrives (a site reading over the shed line ticks the loop). */
  onMeterReading?(id: string, reading: MeterReading): void;
  /** The control loop's commands going out: the miner poller waits for them (never the meters). */
  commandFirst?: CommandFirst;
}

export interface DevicePollers {
  miner: Poller<MinerReading>;
  meter: Poller<MeterReading>;
  gpu: Poller<GpuNodeReading>;
  /** One driver per configured miner, by id. */
  miners: Map<string, Miner>;
  gpuNodes: Map<string, GpuNode>;
  /** Modbus connections, one per line or gateway. */
  connections: ModbusConnection[];
}

export function buildPollers(d: PollerDeps): DevicePollers {
  const miners = new Map<string, Miner>();
  const gpuNodes = new Map<string, GpuNode>();
  const connections: ModbusConnection[] = [];
  return {
    miner: minerPoller(d, miners),
    meter: meterPoller(d, connections),
    gpu: gpuPoller(d, gpuNodes),
    miners,
    gpuNodes,
    connections,
  };
}

/**
 * The miner poll tiers: the essentials every `minersS` (or the override), the detail every
 * `minerDetailS`, else DEFAULT_MINER_DETAIL_POLLS polls apart.
 */
export function minerPollPeriods(
  config: Pick<SiteConfig, "polling">,
  overrideMs?: number,
): { pollMs: number; detailMs: number } {
  const pollMs = overrideMs ?? (config.polling?.minersS ?? DEFAULT_MINER_POLL_MS / 1000) * 1000;
  const detailS = config.polling?.minerDetailS ?? null;
  const detailMs = detailS !== null ? Math.max(detailS * 1000, pollMs) : pollMs * DEFAULT_MINER_DETAIL_POLLS;
  return { pollMs, detailMs };
}

/** One miner's read for the poller: a method, not a closure per miner (20,000 of them add up). */
class MinerTarget implements PollTarget<MinerReading> {
  constructor(
    readonly id: string,
    private readonly miner: Miner,
    private readonly logger: Logger,
  ) {}

  read(signal: AbortSignal): Promise<MinerReading> {
    // a miner whose dialect is known: its read as it is, no async frame of our own around it
    // (this runs once per miner per poll)
    if (this.miner.dialect !== null) return this.miner.read(signal);
    return this.readDetecting(signal);
  }

  /** The reads until the dialect is detected: the first one that detects it is logged. */
  private async readDetecting(signal: AbortSignal): Promise<MinerReading> {
    const { miner } = this;
    const before = miner.dialect;
    const reading = await miner.read(signal);
    if (before === null && miner.dialect !== null) {
      this.logger
        .child({ device: this.id })
        .debug({ dialect: miner.dialect, capabilities: [...miner.capabilities] }, "dialect detected");
    }
    return reading;
  }
}

function minerPoller(d: PollerDeps, miners: Map<string, Miner>): Poller<MinerReading> {
  const models = modelsOf(d.config);
  const { pollMs, detailMs } = minerPollPeriods(d.config, d.opts.minerPollMs);
  const first = d.commandFirst;
  // one options object for the fleet: a miner keeps a reference, not a copy
  const minerOpts = { detailEveryMs: detailMs };
  const targets = d.config.miners.map((m) => {
    const miner = createMiner(
      {
        host: m.host,
        port: m.port,
        webPort: m.webPort,
        grpcPort: m.grpcPort,
        nominalW: m.nominalW,
        credentials: m.credentials,
        models,
      },
      m.dialect,
      minerOpts,
    );
    miners.set(m.id, miner);
    return new MinerTarget(m.id, miner, d.logger);
  });
  return new Poller<MinerReading>({
    name: "cgminer",
    targets,
    intervalMs: pollMs,
    concurrency: d.opts.minerConcurrency ?? DEFAULT_MINER_CONCURRENCY,
    minConcurrency: MIN_MINER_CONCURRENCY,
    timeoutMs: 10_000,
    isFailure: (r) => r.state === "unreachable",
    waitTurn: first ? (signal) => first.turn(signal) : undefined,
    onReading: (id, r, startedAt) => {
      // begun before a write's read-back: it may show the miner as it was before the write
      if (d.state.predatesReadBack(id, startedAt)) return;
      d.state.setMinerReading(id, r);
      d.onTransition(id, minerProblem(r));
    },
    onError: (id, err) => d.onTransition(id, readFailed(err)),
    logger: d.logger.child({ component: "poller", driver: "cgminer" }),
    onSweep: (stats) => d.onSweep("cgminer", stats),
  });
}

function meterPoller(d: PollerDeps, connections: ModbusConnection[]): Poller<MeterReading> {
  // meters behind one gateway or on one serial bus share a connection, read one at a time
  const byEndpoint = new Map<string, ModbusConnection>();
  const targets = d.config.meters.map((m) => {
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
    const meter = new ModbusMeter(conn, { unitId: m.modbus.unitId, profile: m.profile });
    return { id: m.id, read: () => meter.read() };
  });
  connections.push(...byEndpoint.values());
  return new Poller<MeterReading>({
    name: "modbus",
    targets,
    intervalMs: d.opts.meterPollMs ?? (d.config.polling?.metersS ?? DEFAULT_METER_POLL_MS / 1000) * 1000,
    concurrency: Math.max(1, byEndpoint.size),
    timeoutMs: 15_000,
    isFailure: (r) => !r.ok,
    // a meter is retried every period: it is the loop's authority, backing off would hide it
    backoff: { baseMs: 0, maxMs: 0 },
    onReading: (id, r) => {
      d.state.setMeterReading(id, r);
      d.onTransition(id, meterProblem(r));
      d.onMeterReading?.(id, r);
    },
    onError: (id, err) => d.onTransition(id, readFailed(err)),
    logger: d.logger.child({ component: "poller", driver: "modbus" }),
    onSweep: (stats) => d.onSweep("modbus", stats),
  });
}

function gpuPoller(d: PollerDeps, gpuNodes: Map<string, GpuNode>): Poller<GpuNodeReading> {
  const targets = d.config.gpuNodes.map((g) => {
    const log = d.logger.child({ device: g.id });
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
    gpuNodes.set(g.id, node);
    return { id: g.id, read: (signal: AbortSignal) => node.read(signal) };
  });
  return new Poller<GpuNodeReading>({
    name: "nvidia",
    targets,
    intervalMs: (d.config.polling?.gpuNodesS ?? GPU_POLL_MS / 1000) * 1000,
    concurrency: 16,
    timeoutMs: 30_000,
    isFailure: (r) => r.state === "unreachable",
    onReading: (id, r) => {
      d.state.setGpuReading(id, r);
      d.onTransition(id, gpuProblem(r));
    },
    onError: (id, err) => d.onTransition(id, readFailed(err)),
    logger: d.logger.child({ component: "poller", driver: "nvidia" }),
    onSweep: (stats) => d.onSweep("nvidia", stats),
  });
}

// Problem messages are escaped (printable): a device's text must not carry control
// bytes into logs, terminals or events.

/**
 * A miner's problem: faulted or unreachable (asleep or ramping up is a state
 * the site chose), or hashing while a pool is dead — work sent nowhere, or a
 * backup that will not take over.
 */
export function minerProblem(r: MinerReading): DeviceProblem | null {
  if (r.state === "faulted" || r.state === "unreachable") {
    return {
      code: reasonCode(r.reason, r.state),
      message: printable(`${r.state}: ${r.reason ?? "no reason given"}`),
    };
  }
  if (r.state !== "hashing") return null;
  // asked at every poll of every miner: nothing is built unless a pool is dead
  if (!r.pools.some(isDead)) return null;
  const dead = r.pools.filter(isDead);
  const urls = printable(dead.map((p) => p.url ?? "?").join(", "));
  const alive = r.pools.some((p) => /alive/i.test(p.status ?? ""));
  return {
    code: "pool-dead",
    message: alive
      ? `pool ${urls} is dead (mining on another pool; no failover to it)`
      : `every pool is dead (${urls}) while the miner hashes: its work is wasted`,
  };
}

const isDead = (p: PoolInfo): boolean => /dead/i.test(p.status ?? "");

export function meterProblem(r: MeterReading): DeviceProblem | null {
  if (r.ok) return null;
  const reason = r.reason ?? "read failed";
  return { code: reasonCode(reason, "meter"), message: printable(reason) };
}

export function gpuProblem(r: GpuNodeReading): DeviceProblem | null {
  if (r.state === "ok") return null;
  return {
    code: reasonCode(r.reason, r.state),
    message: printable(`${r.state}: ${r.reason ?? "no reason given"}`),
  };
}

/** A read that threw (the poller caught it): a fault of ours or the driver's, never a device state. */
function readFailed(err: Error): DeviceProblem {
  return { code: reasonCode(err.message, "read-failed"), message: printable(`read failed: ${err.message}`) };
}
