// The pure planner (docs/design.md, The control loop). Given the snapshot view,
// the budget, the control config and the ledger view, it returns the actions
// of one tick. No I/O, no clock, no randomness: `now` is an argument, and the
// same inputs always give the same plan (ties broken by id). The shedding and
// restoring halves live in shed.ts and restore.ts.
import { type Ctx, DEFAULT_TRACK, RAMP_WINDOW_MS, rampingWakeW } from "./plan-context.ts";
import { restore, resumeDrained } from "./restore.ts";
import { shed } from "./shed.ts";
import type { LedgerView, Plan, PlanMode, PlanSnapshot, PolicyConfig } from "./types.ts";

export {
  efficiencyJPerTh,
  FLEX_ORDER,
  isFlexible,
  minerFloorW,
  RAMP_WINDOW_MS,
  rampingWakeW,
} from "./plan-context.ts";
export { restoreBatchW } from "./restore.ts";

/** A cut spread under a program deadline is planned to end this long before it. */
const DEADLINE_SAFETY_MS = 60_000;

// ---------------------------------------------------------------- ramp down

/**
 * What this tick may shed under `rampDownWPerMin` (and the most it may take, whole miners
 * rounded: past it only a first miner bigger than the share): all of what the hard budget forces, and of
 * the rest (the economic cut, or a grid signal under a program deadline) what the last 60 s of
 * sheds leave of a minute's ramp down; under a deadline, at least the rate that ends in time.
 */
function rampedShedW(
  {
    projected,
    shedLine,
    hardBudgetW,
  }: { projected: number; shedLine: number; hardBudgetW: number | null | undefined },
  ctx: Ctx,
): { needW: number; spread: { hardW: number; maxW: number; oneFree: boolean } } {
  const needW = projected - shedLine;
  const rampDown = ctx.config.rampDownWPerMin;
  const unlimited = { hardW: 0, maxW: Number.POSITIVE_INFINITY, oneFree: true };
  if (rampDown == null || hardBudgetW == null) return { needW, spread: unlimited };
  const hardNeedW = Math.max(0, projected - (hardBudgetW - ctx.config.shedMarginW));
  const softNeedW = Math.max(0, needW - hardNeedW);
  let recentW = 0;
  for (const s of ctx.ledger.sheds ?? [])
    if (s.at > ctx.now - RAMP_WINDOW_MS && s.at <= ctx.now) recentW += s.expectedW;
  // under a program deadline the spread still ends in time: at least what is left, over the
  // minutes left before the deadline (less a safety minute)
  let rateW = rampDown;
  if (ctx.deadlineAt !== null) {
    const leftMin = Math.max(1 / 60, (ctx.deadlineAt - ctx.now - DEADLINE_SAFETY_MS) / 60_000);
    rateW = Math.max(rateW, softNeedW / leftMin);
  }
  const softW = Math.min(softNeedW, Math.max(0, rateW - recentW));
  if (softW < softNeedW) {
    ctx.alarms.push({
      code: "ramp-down-limited",
      message:
        ctx.deadlineAt !== null
          ? "a cut spread by rampDownWPerMin, to end before the program deadline"
          : "an economic cut spread by rampDownWPerMin",
    });
  }
  return {
    needW: hardNeedW + softW,
    // a miner bigger than the minute's share goes only when nothing else went in that minute
    spread:
      softW < softNeedW ? { hardW: hardNeedW, maxW: hardNeedW + softW, oneFree: recentW === 0 } : unlimited,
  };
}

// ---------------------------------------------------------------- AI swing

/**
 * The AI step less what the agent's own GPU actions in flight explain: a cap the node shows
 * before the meter does is already counted as a pending shed (and an uncap as a pending restore).
 */
function ownGpuActionsOut(swingW: number, snapshot: PlanSnapshot, ledger: LedgerView): number {
  if (swingW === 0) return 0;
  let capsW = 0;
  let uncapsW = 0;
  for (const n of snapshot.gpuNodes) {
    const l = ledger.devices.get(n.id);
    capsW += l?.pendingShed?.expectedW ?? 0;
    uncapsW += l?.pendingWake?.expectedW ?? 0;
  }
  return swingW < 0 ? Math.min(0, swingW + capsW) : Math.max(0, swingW - uncapsW);
}

// ---------------------------------------------------------------- plan

/**
 * One tick's plan. P is the snapshot's power; when it is unknown the sum of
 * device reports stands in (alarm `power-unknown`) and nothing is restored.
 * Over: P − pending sheds + pending restores > B − shedMarginW. Under:
 * P < B − restoreMarginW. Emergency: P > hardBudgetW (B without the economic cut) + emergencyMarginW.
 */
export function plan(
  snapshot: PlanSnapshot,
  budget: {
    budgetW: number;
    deadlineAt?: number | null;
    /** The budget of the hard sources alone (without the economic cut); absent: all of B is hard. */
    hardBudgetW?: number | null;
  },
  config: PolicyConfig,
  ledger: LedgerView,
  now: number,
): Plan {
  const B = budget.budgetW;
  const ctx: Ctx = { config, ledger, now, deadlineAt: budget.deadlineAt ?? null, actions: [], alarms: [] };

  let pendingWakeW = 0;
  let pendingShedW = 0;
  for (const l of ledger.devices.values()) {
    if (l.pendingWake) pendingWakeW += l.pendingWake.expectedW;
    if (l.pendingShed) pendingShedW += l.pendingShed.expectedW;
  }
  // woken miners still ramping to their draw (their model's wake-up time): the rest is to come
  pendingWakeW += rampingWakeW(snapshot.miners, ledger, now);

  let P = snapshot.powerW;
  const known = P !== null;
  if (P === null) {
    P = 0;
    for (const m of snapshot.miners) P += m.powerW ?? 0;
    for (const n of snapshot.gpuNodes) for (const g of n.gpus) P += g.powerW ?? 0;
    ctx.alarms.push({ code: "power-unknown", message: "no site power: planning on device reports" });
  }
  // swing absorption: an AI step the meter has not shown yet counts now, so mining moves in
  // the same tick (the step's own size, not a meter period later)
  const aiSwingW = known ? ownGpuActionsOut(snapshot.aiSwingW ?? 0, snapshot, ledger) : 0;
  if (aiSwingW !== 0) {
    P += aiSwingW;
    ctx.alarms.push({
      code: "ai-step",
      message: `AI ${aiSwingW > 0 ? "rose" : "fell"} ${Math.round(Math.abs(aiSwingW))} W since the site meter's reading: mining compensates now`,
    });
  }

  const shedLine = B - config.shedMarginW;
  const headroomW = shedLine - P - pendingWakeW;
  const projected = P - pendingShedW + pendingWakeW;
  // an emergency is a breach of what the budget forces: an economic cut is never one
  const emergency = P > (budget.hardBudgetW ?? B) + config.emergencyMarginW;
  const track = config.strategy === "track";
  const toleranceW = (config.track ?? DEFAULT_TRACK).toleranceW;
  let mode: PlanMode = "hold";
  if (projected > shedLine) {
    mode = "shed";
    if (emergency) ctx.alarms.push({ code: "emergency", message: `P ${P} W > budget + emergency margin` });
    const { needW, spread } = emergency
      ? { needW: projected - shedLine, spread: undefined }
      : rampedShedW({ projected, shedLine, hardBudgetW: budget.hardBudgetW }, ctx);
    if (needW > 0) shed({ snapshot, needW, emergency, breach: P > (budget.hardBudgetW ?? B), ctx, spread });
  } else if (track ? known && headroomW > toleranceW / 2 : known && P < B - config.restoreMarginW) {
    // track: once P sits more than half its band under the shed line, it fills to a quarter of
    // the band under it (what is left is the noise's room: crossing the line trims again);
    // sleep restores what fits
    mode = "restore";
    restore(snapshot, track ? headroomW - toleranceW / 4 : headroomW, ctx);
  }
  if (mode !== "shed") resumeDrained(snapshot, ctx);
  return { actions: ctx.actions, budgetW: B, headroomW, mode, alarms: ctx.alarms };
}
