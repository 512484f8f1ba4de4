// Grid signals as budget sources. Most ask for a budget in watts (a setpoint,
// a capacity limit, a contact's budget); a target asks for a share of the
// flexible load to keep running, which is turned into a budget here against
// the flexible load of the moment: the site's power less the mining that runs,
// plus the share of all the mining there is (running, and what the agent
// slept). The shed margin is added back so the plan sheds down to the share
// and no further, as the economic cut does. Pure.
import type { SignalStatus } from "../signals/types.ts";

export interface FlexView {
  /** Site power now (W); null when unknown (then a target cannot be placed). */
  powerW: number | null;
  /** Mining power of the miners running now. */
  runningMiningW: number;
  /** Power of the miners the agent slept, as they drew before. */
  sleptByAgentW: number;
}

/** The budget that keeps `keepFraction` of the flexible load running; null when power is unknown. */
export function targetBudgetW(keepFraction: number, view: FlexView, shedMarginW: number): number | null {
  if (view.powerW === null) return null;
  const all = view.runningMiningW + view.sleptByAgentW;
  const f = Math.min(1, Math.max(0, keepFraction));
  return Math.max(0, Math.ceil(view.powerW - view.runningMiningW + f * all + shedMarginW));
}

/** The signals that constrain the budget now, as sources with their reasons. */
export function signalSources(
  statuses: readonly SignalStatus[],
  view: FlexView,
  shedMarginW: number,
): Array<{ watts: number; reason: string }> {
  const out: Array<{ watts: number; reason: string }> = [];
  for (const s of statuses) {
    if (s.budgetW !== null) out.push({ watts: s.budgetW, reason: `${s.name}: ${s.reason}` });
    else if (s.keepFraction != null) {
      const w = targetBudgetW(s.keepFraction, view, shedMarginW);
      if (w !== null) out.push({ watts: w, reason: `${s.name}: ${s.reason}` });
    }
  }
  return out;
}
