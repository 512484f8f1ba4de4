// The lean view the planner works on: per miner its state, draw and the
// power-limit range (the model's range narrowing the firmware's), per GPU node
// its GPUs and limits. Apart from state.ts because it is the control loop's
// input contract (PlanSnapshot), not a reading store.
import type { MinerCapability } from "../../drivers/types.ts";
import type { PlanSnapshot } from "../control/types.ts";
import { modelsOf } from "../devices/models.ts";
import type { ViewOptions } from "./device-rows.ts";
import { type MeterStatus, type SiteState, tighter } from "./state.ts";

/** The lean view the planner works on; capabilities come from each miner's driver. */
export function planView(
  state: SiteState,
  capabilitiesOf: (minerId: string) => MinerCapability[],
  opts: Omit<ViewOptions, "driverOf"> = {},
): PlanSnapshot {
  const { now = Date.now(), isExcluded = () => false } = opts;
  const snap = state.snapshot(now);
  const models = modelsOf(state.config);
  return {
    powerW: snap.powerW,
    powerSource: snap.powerSource,
    powerAt: snap.powerAt,
    aiPowerW: snap.classes.ai.powerW,
    aiPowerAt: aiPowerAt(state, snap.meters),
    miners: [...state.miners.values()].map(({ config, reading }) => {
      // the model's range narrows what the firmware reports (never widens it), and its
      // wake-up time tells the planner how long a wake takes to show in full
      const model = models.find(reading?.model);
      return {
        id: config.id,
        priority: config.priority,
        state: reading?.state ?? "unreachable",
        powerW: reading?.powerW ?? null,
        hashrateThs: reading?.hashrateThs ?? null,
        capabilities: capabilitiesOf(config.id),
        excluded: isExcluded(config.id),
        powerLimitW: reading?.powerLimitW ?? null,
        minPowerLimitW: tighter(reading?.minPowerLimitW, model?.powerLimitW?.min, Math.max),
        maxPowerLimitW: tighter(reading?.maxPowerLimitW, model?.powerLimitW?.max, Math.min),
        powerLimitStepsW: reading?.powerLimitStepsW ?? null,
        wakeUpS: model?.wakeUpS ?? null,
      };
    }),
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
