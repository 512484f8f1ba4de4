// An operator's device action (sleep, wake, reboot, set-power-limit, locate) as the
// control-loop actions that carry it out, with the power change each is
// expected to make (what the ramp and the headroom count). Pure: the Site runs
// the steps through the loop, one after the other.
import type { GpuNodeConfig, MinerConfig } from "../../config/schema.ts";
import { formatPowerW } from "../../config/units.ts";
import type { GpuNodeReading } from "../../drivers/nvidia/types.ts";
import type { MinerReading } from "../../drivers/types.ts";
import { type DeviceAction, locateSeconds } from "./intents.ts";
import type { PlanAction } from "./types.ts";

export type OperatorStep = Omit<PlanAction, "origin">;

export interface OperatorStepContext {
  miner: MinerConfig | null;
  gpuNode: GpuNodeConfig | null;
  minerReading: MinerReading | null;
  gpuReading: GpuNodeReading | null;
  /** What the miner drew when the agent slept it, if it did: the expected power of a wake. */
  sleptPowerW: number | null;
}

export function operatorSteps(
  req: DeviceAction,
  why: string,
  ctx: OperatorStepContext,
): { actions: OperatorStep[] } | { error: string } {
  const id = req.id;
  if (ctx.miner) {
    const powerW = ctx.minerReading?.powerW ?? null;
    switch (req.action) {
      case "sleep":
        return { actions: [{ deviceId: id, kind: "sleep", expectedDeltaW: -(powerW ?? 0), reason: why }] };
      case "wake": {
        const w = ctx.sleptPowerW ?? ctx.miner.nominalW ?? 0;
        return { actions: [{ deviceId: id, kind: "wake", expectedDeltaW: w, reason: why }] };
      }
      case "reboot":
        return { actions: [{ deviceId: id, kind: "reboot", expectedDeltaW: 0, reason: why }] };
      case "locate": {
        // moves no power: nothing for the ramp or the headroom to count
        const seconds = locateSeconds(req);
        return { actions: [{ deviceId: id, kind: "locate", seconds, expectedDeltaW: 0, reason: why }] };
      }
      case "set-power-limit": {
        const w = req.value as number;
        const delta = powerW !== null ? w - powerW : 0;
        return {
          actions: [{ deviceId: id, kind: "setPowerLimit", valueW: w, expectedDeltaW: delta, reason: why }],
        };
      }
      default:
        return { error: `${req.action} is not a device command` };
    }
  }
  const g = ctx.gpuNode;
  if (!g) return { error: `unknown device "${id}"` };
  // a GPU node: only its power limit, per GPU, never under the floor
  if (req.action !== "set-power-limit") {
    return { error: `${id} is a GPU node: only set-power-limit, exclude and include apply (no locate LED)` };
  }
  const w = req.value as number;
  if (w < g.floorW)
    return { error: `${formatPowerW(w)} is under the node's floorW ${formatPowerW(g.floorW)}` };
  const gpus = (ctx.gpuReading?.gpus ?? []).filter((x) => x.index !== null);
  if (gpus.length === 0) return { error: `${id} has no GPU reading yet` };
  return {
    actions: gpus.map((gpu) => {
      const limit = Math.min(gpu.maxPowerLimitW ?? w, Math.max(g.floorW, gpu.minPowerLimitW ?? 0, w));
      return {
        deviceId: id,
        kind: "capGpu" as const,
        gpuIndex: gpu.index as number,
        valueW: limit,
        expectedDeltaW: gpu.powerW != null ? Math.min(0, limit - gpu.powerW) : 0,
        reason: why,
      };
    }),
  };
}
