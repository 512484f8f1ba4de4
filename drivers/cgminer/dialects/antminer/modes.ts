// Stock Antminer work modes as power steps. Stock firmware takes no watt
// target: besides sleep it runs normal (miner-mode 0) or low-power (3), so a
// power limit is one of two steps, [low-power draw, normal draw], taken from the
// model's data (config/models: `lowPowerW`, `nominalW`). A target lands on the
// highest step at or below it, as the planner counts it (appliedLimitW) and the
// driver confirms it (landingStep): a target between the steps gives low power,
// never normal, which would draw more than asked.
import type { KnownModel } from "../../models.ts";
import { WORK_MODE } from "./web-client.ts";

/** [low-power draw, normal draw] in W, ascending. */
export type PowerSteps = readonly [lowW: number, normalW: number];

/** Each model's steps, built once: every poll of every unit reports them. */
const stepsOfModel = new WeakMap<KnownModel, PowerSteps | null>();

/**
 * The unit's steps, from its model; null when the model is unknown or has no low-power
 * figure. One frozen pair per model, shared by its units' readings: never mutate it.
 */
export function powerStepsOf(model: KnownModel | null): PowerSteps | null {
  if (!model) return null;
  let steps = stepsOfModel.get(model);
  if (steps === undefined) {
    const { lowPowerW, nominalW } = model;
    steps =
      lowPowerW === undefined || lowPowerW === null || !(lowPowerW < nominalW)
        ? null
        : Object.freeze([lowPowerW, nominalW] as const);
    stepsOfModel.set(model, steps);
  }
  return steps;
}

/** The mode and step a target gives: the highest step at or below it; null below the low step. */
export function modeForTarget(steps: PowerSteps, targetW: number): { mode: number; stepW: number } | null {
  const [lowW, normalW] = steps;
  if (targetW >= normalW) return { mode: WORK_MODE.normal, stepW: normalW };
  if (targetW >= lowW) return { mode: WORK_MODE.low, stepW: lowW };
  return null;
}

/** The step a work mode runs at (normal, low); null for sleep, high and unknown modes. */
export function stepOfMode(steps: PowerSteps, mode: number | null): number | null {
  if (mode === WORK_MODE.normal) return steps[1];
  if (mode === WORK_MODE.low) return steps[0];
  return null;
}
