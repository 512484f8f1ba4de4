// The device rows of `GET /api/devices` and the miner detail page: each
// device's configuration beside its latest reading, its age, what its driver
// detected, and a firmware change. Apart from state.ts (the readings and the
// snapshot): these are view models, read by HTTP and the exports only.
import type { MinerConfig, SiteConfig } from "../../config/schema.ts";
import type { MinerBoard, MinerReading, MinerState, PoolInfo } from "../../drivers/types.ts";
import type { MinerHealth } from "../devices/miner-health.ts";
import {
  FIRMWARE_CHANGE_MS,
  type FirmwareChange,
  type MinerDriverView,
  type MinerEntry,
  type SiteState,
} from "./state.ts";

/** What a view is built for: when, which devices are excluded, what each miner's driver knows. */
export interface ViewOptions {
  now?: number;
  isExcluded?: (id: string) => boolean;
  driverOf?: (id: string) => MinerDriverView | null;
}

const none = () => false;
const unknown = () => null;

/** `GET /api/devices`: every device's latest reading with its age. */
export function devicesView(state: SiteState, opts: ViewOptions = {}) {
  const { now = Date.now(), isExcluded = none, driverOf = unknown } = opts;
  const view = { now, isExcluded, driverOf };
  return {
    miners: [...state.miners.values()].map((e) => minerRow(e, view)),
    // the meters alone: a whole snapshot would walk the fleet once more for totals not shown here
    meters: state.meterStatus(now),
    gpuNodes: state.config.gpuNodes.map((g) => gpuNodeRow(state, g, isExcluded)),
  };
}

/** One device's row of `GET /api/devices` (the miner detail page), or null for an unknown id. */
export function deviceRow(state: SiteState, id: string, opts: ViewOptions = {}) {
  const { now = Date.now(), isExcluded = none, driverOf = unknown } = opts;
  const e = state.miners.get(id);
  if (e) return { kind: "miner" as const, row: minerRow(e, { now, isExcluded, driverOf }) };
  const g = state.config.gpuNodes.find((x) => x.id === id);
  return g ? { kind: "gpuNode" as const, row: gpuNodeRow(state, g, isExcluded) } : null;
}

/** The devices as the problems list judges them: meters and GPU nodes as `GET /api/devices` has them, the miners lean. */
export function problemDevicesView(state: SiteState, opts: ProblemViewOptions = {}) {
  const { now = Date.now(), isExcluded = none } = opts;
  return {
    meters: state.meterStatus(now),
    gpuNodes: state.config.gpuNodes.map((g) => gpuNodeRow(state, g, isExcluded)),
    miners: problemMiners(state, { ...opts, now }),
  };
}

/**
 * What the problems list reads of each miner, one at a time: no formatting, no copy of
 * the reading. The site checks its problems every few seconds; at 20,000 miners the
 * full rows of `GET /api/devices` cost about 100 ms a check, all alive at once (so
 * promoted to the old generation), where these die young, one by one.
 */
export function* problemMiners(state: SiteState, opts: ProblemViewOptions = {}): Generator<ProblemMiner> {
  const { now = Date.now(), isExcluded = none, driverOf = unknown } = opts;
  for (const entry of state.miners.values()) {
    const { config, reading: r } = entry;
    const d = driverOf(config.id);
    yield {
      id: config.id,
      host: config.host,
      port: config.port,
      location: config.location,
      excluded: isExcluded(config.id),
      dialect: d?.dialect ?? (config.dialect === "auto" ? null : config.dialect),
      configuredDialect: config.dialect,
      capabilities: d?.capabilities ?? [],
      withdrawn: d?.withdrawn ?? [],
      poolPolicy: config.pools ?? null,
      firmwareChange: firmwareChangeOf(entry, now),
      health: entry.health ?? null,
      state: r?.state ?? null,
      reason: r?.reason ?? null,
      hashrateThs: r?.hashrateThs ?? null,
      powerW: r?.powerW ?? null,
      chipTempMaxC: r?.chipTempMaxC ?? null,
      boardTempsC: r?.boardTempsC ?? [],
      boards: r?.boards ?? [],
      fanRpm: r?.fanRpm ?? [],
      pools: r?.pools ?? [],
    };
  }
}

/** As ViewOptions, but a driver's lists may be its own (read, never kept or edited): no copy per miner per check. */
export type ProblemViewOptions = Omit<ViewOptions, "driverOf"> & {
  driverOf?: (id: string) => {
    dialect: string | null;
    capabilities: readonly string[];
    withdrawn: ProblemMiner["withdrawn"];
  } | null;
};

/** A miner as the problems list judges it (a `GET /api/devices` row has all of it). */
export interface ProblemMiner {
  id: string;
  host: string;
  port: number;
  location?: MinerConfig["location"];
  excluded: boolean;
  dialect: string | null;
  configuredDialect: MinerConfig["dialect"];
  capabilities: readonly string[];
  withdrawn: readonly MinerDriverView["withdrawn"][number][];
  poolPolicy: MinerConfig["pools"] | null;
  firmwareChange: FirmwareChange | null;
  health: MinerHealth | null;
  state: MinerState | null;
  reason?: string | null;
  hashrateThs?: number | null;
  powerW?: number | null;
  chipTempMaxC?: number | null;
  boardTempsC?: number[];
  boards?: MinerBoard[];
  fanRpm?: number[];
  pools?: PoolInfo[];
}

function minerRow(entry: MinerEntry, { now, isExcluded, driverOf }: Required<ViewOptions>) {
  const { config, reading, health } = entry;
  const d = driverOf(config.id);
  return {
    id: config.id,
    class: "mining",
    host: config.host,
    port: config.port,
    // what the miner was detected as; the configured one (maybe auto) beside it
    dialect: d?.dialect ?? (config.dialect === "auto" ? null : config.dialect),
    configuredDialect: config.dialect,
    capabilities: d?.capabilities ?? [],
    withdrawn: d?.withdrawn ?? [],
    location: config.location,
    priority: config.priority,
    excluded: isExcluded(config.id),
    poolPolicy: config.pools ?? null,
    firmwareChange: firmwareChangeOf(entry, now),
    health: health ?? null,
    ...(reading ?? { state: null, at: null }),
    at: reading ? new Date(reading.at).toISOString() : null,
    ageS: reading ? Math.round((now - reading.at) / 100) / 10 : null,
    // poll tiers: temperatures, fans, boards and pools are read every polling.minerDetailS
    // and carried between; when they were read, and how old they are
    ...detailAge(reading, now),
  };
}

function gpuNodeRow(
  state: SiteState,
  g: SiteConfig["gpuNodes"][number],
  isExcluded: (id: string) => boolean,
) {
  const r = state.gpuNodes.get(g.id) ?? null;
  return {
    id: g.id,
    class: "ai",
    host: g.host,
    port: g.port,
    location: g.location,
    excluded: isExcluded(g.id),
    state: r?.state ?? null,
    reason: r?.reason ?? null,
    powerW: r?.powerW ?? null,
    at: r ? new Date(r.at).toISOString() : null,
    gpus: r?.gpus ?? [],
  };
}

function firmwareChangeOf(entry: MinerEntry | undefined, now: number): FirmwareChange | null {
  const c = entry?.firmware?.change ?? null;
  return c && now - c.at < FIRMWARE_CHANGE_MS ? c : null;
}

/** When a miner reading's detail fields were read (MinerReading.detailAt, else with the rest) and their age. */
function detailAge(
  reading: MinerReading | null | undefined,
  now: number,
): { detailAt: string | null; detailAgeS: number | null } {
  const at = reading ? (reading.detailAt === undefined ? reading.at : reading.detailAt) : null;
  if (at === null) return { detailAt: null, detailAgeS: null };
  return { detailAt: new Date(at).toISOString(), detailAgeS: Math.round((now - at) / 100) / 10 };
}
