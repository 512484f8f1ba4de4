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

/** A miner's plan view, and what it was built from: the same inputs give the same object. */
interface PlanMinerMemo {
  reading: MinerReading | null;
  capabilities: ReadonlySet<MinerCapability> | undefined;
  excluded: boolean;
  models: ReturnType<typeof modelsOf>;
  view: PlanMiner;
}
/** Per miner entry of a site state (a reload starts new ones). */
const planMiners = new WeakMap<MinerEntry, PlanMinerMemo>();

/**
 * The lean view the planner works on; capabilities come from each miner's driver.
 * Built every tick for the whole fleet, so a miner whose reading, capabilities and
 * exclusion are those of the last tick keeps its object (the planner never edits
 * one): at 20,000 miners, rebuilding them all was most of the tick.
 */
export function planView(
  state: SiteState,
  capabilitiesOf: (minerId: string) => ReadonlySet<MinerCapability> | undefined,
  opts: Omit<ViewOptions, "driverOf"> = {},
): PlanSnapshot {
  const { now = Date.now(), isExcluded = () => false } = opts;
  const power = state.planPower(now);
  const models = modelsOf(state.config);
  const miners: PlanMiner[] = [];
  for (const entry of state.miners.values()) {
    const { config, reading } = entry;
    const capabilities = capabilitiesOf(config.id);
    const excluded = isExcluded(config.id);
    const memo = planMiners.get(entry);
    if (
      memo &&
      memo.reading === reading &&
      memo.capabilities === capabilities &&
      memo.excluded === excluded &&
      memo.models === models
    ) {
      miners.push(memo.view);
      continue;
    }
    // the model's range narrows what the firmware reports (never widens it), and its
    // wake-up time tells the planner how long a wake takes to show in full
    const model = models.find(reading?.model);
    const view: PlanMiner = {
      id: config.id,
      priority: config.priority,
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
    planMiners.set(entry, { reading, capabilities, excluded, models, view });
    miners.push(view);
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
