// The lean view the planner works on: per miner its state, draw and the
// power-limit range (the model's range narrowing the firmware's), per GPU node
// its GPUs and limits. Apart from state.ts because it is the control loop's
// input contract (PlanSnapshot), not a reading store.
import type { MinerCapability, MinerReading } from "../../drivers/types.ts";
import type { PlanMiner, PlanSnapshot } from "../control/types.ts";
import { modelsOf } from "../devices/models.ts";
import type { ViewOptions } from "./device-rows.ts";
import { type MeterStatus, type MinerEntry, type SiteState, tighter } from "./state.ts";

const capabilityLists = new WeakMap<ReadonlySet<MinerCapability>, readonly MinerCapability[]>();
const NO_CAPABILITIES: readonly MinerCapability[] = Object.freeze([]);

/**
 * A driver's capability set as the list the planner reads. Drivers replace the set when
 * it changes (never edit it), so one frozen list per set serves every tick: at 20,000
 * miners a fresh copy per miner per tick was a fifth of the tick.
 */
export function capabilityList(set: ReadonlySet<MinerCapability> | undefined): readonly MinerCapability[] {
  if (!set || set.size === 0) return NO_CAPABILITIES;
  let list = capabilityLists.get(set);
  if (!list) {
    list = Object.freeze([...set]);
    capabilityLists.set(set, list);
  }
  return list;
}

/** What answers for a miner's capabilities: its driver (the site's miners map holds them by id). */
export interface CapabilitySource {
  readonly capabilities: ReadonlySet<MinerCapability>;
}

/**
 * Where the plan view finds each miner's capabilities: the site's miners (id → driver), whose
 * drivers it then keeps per miner, or a lookup asked per miner per view (tests, benches).
 */
export type CapabilitySources =
  | ReadonlyMap<string, CapabilitySource>
  | ((minerId: string) => ReadonlySet<MinerCapability> | undefined);

/**
 * Per site state: the fleet in the state's order, and for each miner its plan view and what
 * it was built from, as parallel arrays. A tick walks them in order; at 20,000 miners, a memo
 * object and a driver lookup by id per miner cost a tick 50 ms of cache misses in a large heap.
 */
interface PlanCache {
  entries: MinerEntry[];
  ids: string[];
  /** The map `drivers` were taken from (another map: they are taken again). */
  sources: ReadonlyMap<string, CapabilitySource> | null;
  drivers: Array<CapabilitySource | undefined>;
  readings: Array<MinerReading | null>;
  capabilities: Array<ReadonlySet<MinerCapability> | undefined>;
  excluded: boolean[];
  views: Array<PlanMiner | undefined>;
  models: ReturnType<typeof modelsOf> | null;
}
const planCaches = new WeakMap<SiteState, PlanCache>();

function cacheOf(state: SiteState): PlanCache {
  let cache = planCaches.get(state);
  if (!cache) {
    cache = {
      entries: [],
      ids: [],
      sources: null,
      drivers: [],
      readings: [],
      capabilities: [],
      excluded: [],
      views: [],
      models: null,
    };
    planCaches.set(state, cache);
  }
  return cache;
}

/**
 * The lean view the planner works on; capabilities come from each miner's driver.
 * Built every tick for the whole fleet, so a miner whose reading, capabilities and
 * exclusion are those of the last tick keeps its object (the planner never edits
 * one): at 20,000 miners, rebuilding them all was most of the tick.
 */
export function planView(
  state: SiteState,
  sources: CapabilitySources,
  opts: Omit<ViewOptions, "driverOf"> = {},
): PlanSnapshot {
  const { now = Date.now(), isExcluded = () => false } = opts;
  const power = state.planPower(now);
  const models = modelsOf(state.config);
  const c = cacheOf(state);
  const lookup = typeof sources === "function" ? sources : null;
  if (lookup === null && c.sources !== sources) {
    // another map of drivers (the devices restarted): each miner's is taken from it anew
    c.sources = sources as ReadonlyMap<string, CapabilitySource>;
    c.drivers = [];
  }
  const sameModels = c.models === models;
  c.models = models;
  const miners: PlanMiner[] = [];
  let i = 0;
  for (const entry of state.miners.values()) {
    if (c.entries[i] !== entry) {
      // a new slot (first view, or entries not those of the last view): nothing kept holds
      c.entries[i] = entry;
      c.ids[i] = entry.config.id;
      c.drivers[i] = undefined;
      c.views[i] = undefined;
    }
    const id = c.ids[i]!;
    let capabilities: ReadonlySet<MinerCapability> | undefined;
    if (lookup !== null) capabilities = lookup(id);
    else {
      let driver = c.drivers[i];
      if (driver === undefined) {
        driver = c.sources!.get(id);
        c.drivers[i] = driver;
      }
      capabilities = driver?.capabilities;
    }
    const reading = entry.reading;
    const excluded = isExcluded(id);
    const kept = c.views[i];
    if (
      kept !== undefined &&
      sameModels &&
      c.readings[i] === reading &&
      c.capabilities[i] === capabilities &&
      c.excluded[i] === excluded
    ) {
      miners.push(kept);
      i++;
      continue;
    }
    // the model's range narrows what the firmware reports (never widens it), and its
    // wake-up time tells the planner how long a wake takes to show in full
    const model = models.find(reading?.model);
    const view: PlanMiner = {
      id,
      priority: entry.config.priority,
      state: reading?.state ?? "unreachable",
      powerW: reading?.powerW ?? null,
      hashrateThs: reading?.hashrateThs ?? null,
      capabilities: capabilityList(capabilities),
      excluded,
      powerLimitW: reading?.powerLimitW ?? null,
      minPowerLimitW: tighter(reading?.minPowerLimitW, model?.powerLimitW?.min, Math.max),
      maxPowerLimitW: tighter(reading?.maxPowerLimitW, model?.powerLimitW?.max, Math.min),
      powerLimitStepsW: reading?.powerLimitStepsW ?? null,
      wakeUpS: model?.wakeUpS ?? null,
    };
    c.readings[i] = reading;
    c.capabilities[i] = capabilities;
    c.excluded[i] = excluded;
    c.views[i] = view;
    miners.push(view);
    i++;
  }
  if (c.entries.length > i) {
    for (const list of [c.entries, c.ids, c.drivers, c.readings, c.capabilities, c.excluded, c.views])
      list.length = i;
  }
  return {
    powerW: power.powerW,
    powerSource: power.powerSource,
    powerAt: power.powerAt,
    aiPowerW: power.aiW,
    aiPowerAt: aiPowerAt(state, power.meters),
    miners,
    gpuNodes: state.config.gpuNodes.map((g) => ({
      id: g.id,
      floorW: g.floorW,
      priority: g.priority,
      excluded: isExcluded(g.id),
      flex: g.flex,
      clockLocked: g.lockClocksMHz != null,
      gpus: (state.gpuNodes.get(g.id)?.gpus ?? []).flatMap((gpu) =>
        gpu.index === null
          ? []
          : [
              {
                index: gpu.index,
                powerW: gpu.powerW,
                powerLimitW: gpu.powerLimitW,
                minLimitW: gpu.minPowerLimitW,
                maxLimitW: gpu.maxPowerLimitW,
                defaultLimitW: gpu.defaultPowerLimitW,
              },
            ],
      ),
    })),
  };
}

/** When the AI power now shown was read: the ai meter's reading, else the newest GPU node reading. */
function aiPowerAt(state: SiteState, meters: readonly MeterStatus[]): number | null {
  const aiMeter = meters.find((m) => m.role === "ai" && m.powerW !== null);
  if (aiMeter) return state.meterReadAt(aiMeter.id);
  let at: number | null = null;
  for (const r of state.gpuNodes.values()) if (r && (at === null || r.at > at)) at = r.at;
  return at;
}
