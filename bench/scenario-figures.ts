// Control-quality figures of one scenario step, from the ground-truth samples
// (the simulator's power model every 250 ms) and the agent's own events. Pure.

export interface Sample {
  at: number;
  step: string;
  /** The site meter's true value: net of any generation behind it (negative = export). */
  siteW: number;
  miningW: number;
  aiW: number;
  budgetW: number;
  aiCapped: boolean;
  /** The loop held restores by the ramp lately (alarm ramp-limited within a stagger and 2 s). */
  rampHeld: boolean;
}

/** One move the agent made on a miner: +1 up (wake, target raised), −1 down (sleep, target lowered). */
export interface Move {
  at: number;
  deviceId: string;
  dir: 1 | -1;
  kind: string;
}

export interface StepFigures {
  step: string;
  secondsOverBudget: number;
  /** B − P while under budget (W): mean and p95. */
  trackingErrorMeanW: number;
  trackingErrorP95W: number;
  /**
   * (B − shedMarginW) − P while under budget, settled (the budget unchanged for SETTLED_MS),
   * mining curtailed and the ramp not holding restores back (W): what the agent left unused
   * although it had mining to give back and nothing stopped it. The shed margin is kept by
   * every strategy.
   */
  unusedHeadroomW: number | null;
  /** Largest rise / fall of site power within any 60 s (W). */
  ramp60UpW: number;
  ramp60DownW: number;
  /** Largest move of AI power in the step (W) and its share of the step's mean AI. */
  aiMoveW: number;
  aiMovePct: number;
  minerToggles: number;
  targetChanges: number;
  /** A miner moved one way and back the other within minOnS. */
  oppositeMovesWithinMinOn: number;
  aiCappedS: number;
  avgSiteKW: number;
  budgetKW: number;
}

/** A budget that moved less than this is the same budget (noise of a signal or an economic cut). */
const BUDGET_CHANGE_W = 1_000;
/** After a budget change the site is not settled for this long. */
export const SETTLED_MS = 10_000;

/** Whether each sample comes SETTLED_MS or more after the budget last changed. */
export function settledFlags(ss: readonly Sample[]): boolean[] {
  let changedAt = Number.NEGATIVE_INFINITY;
  return ss.map((s, i) => {
    if (i > 0 && Math.abs(s.budgetW - ss[i - 1]!.budgetW) >= BUDGET_CHANGE_W) changedAt = s.at;
    return s.at - changedAt >= SETTLED_MS;
  });
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return 0;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Largest rise and fall of `siteW` between two samples at most windowMs apart. */
export function largestRamps(ss: readonly Sample[], windowMs = 60_000): { upW: number; downW: number } {
  let upW = 0;
  let downW = 0;
  let lo = 0;
  // a monotone deque would do it in O(n); steps hold at most a few thousand samples
  for (let j = 0; j < ss.length; j++) {
    while (ss[j]!.at - ss[lo]!.at > windowMs) lo++;
    for (let i = lo; i < j; i++) {
      const d = ss[j]!.siteW - ss[i]!.siteW;
      if (d > upW) upW = d;
      if (-d > downW) downW = -d;
    }
  }
  return { upW, downW };
}

/** Pairs of consecutive moves of one miner in opposite directions within minOnMs. */
export function oppositeMoves(moves: readonly Move[], minOnMs: number): number {
  const last = new Map<string, Move>();
  let n = 0;
  for (const m of [...moves].sort((a, b) => a.at - b.at)) {
    const prev = last.get(m.deviceId);
    if (prev && prev.dir !== m.dir && m.at - prev.at < minOnMs) n++;
    last.set(m.deviceId, m);
  }
  return n;
}

export function stepFigures(
  name: string,
  ss: readonly Sample[],
  ctx: {
    /** settledFlags of the same samples (computed over the whole run, so a step start is not a change). */
    settled: readonly boolean[];
    sampleMs: number;
    shedMarginW: number;
    /** Mining drawn with nothing curtailed (W). */
    fullMiningW: number;
    /** Below fullMiningW by more than this, mining counts as curtailed. */
    curtailedByW: number;
    toggles: number;
    moves: readonly Move[];
    minOnMs: number;
  },
): StepFigures {
  const under = ss.filter((s) => s.siteW <= s.budgetW);
  const gaps = under.map((s) => s.budgetW - s.siteW);
  const isSettled = new Map(ss.map((s, i) => [s, ctx.settled[i] ?? false]));
  const curtailed = under.filter(
    (s) => isSettled.get(s) && s.miningW < ctx.fullMiningW - ctx.curtailedByW && !s.rampHeld,
  );
  const { upW, downW } = largestRamps(ss);
  const ai = ss.map((s) => s.aiW);
  const aiMoveW = ai.length ? Math.max(...ai) - Math.min(...ai) : 0;
  return {
    step: name,
    secondsOverBudget: (ss.filter((s) => s.siteW > s.budgetW).length * ctx.sampleMs) / 1000,
    trackingErrorMeanW: Math.round(mean(gaps)),
    trackingErrorP95W: Math.round(percentile(gaps, 95)),
    unusedHeadroomW: curtailed.length
      ? Math.round(mean(curtailed.map((s) => Math.max(0, s.budgetW - ctx.shedMarginW - s.siteW))))
      : null,
    ramp60UpW: Math.round(upW),
    ramp60DownW: Math.round(downW),
    aiMoveW: Math.round(aiMoveW),
    aiMovePct: Math.round((aiMoveW / Math.max(1, mean(ai))) * 100),
    minerToggles: ctx.toggles,
    targetChanges: ctx.moves.filter((m) => m.kind === "setPowerLimit" || m.kind === "restorePowerLimit")
      .length,
    oppositeMovesWithinMinOn: oppositeMoves(ctx.moves, ctx.minOnMs),
    aiCappedS: (ss.filter((s) => s.aiCapped).length * ctx.sampleMs) / 1000,
    avgSiteKW: Math.round(mean(ss.map((s) => s.siteW)) / 100) / 10,
    budgetKW: Math.round(mean(ss.map((s) => s.budgetW)) / 100) / 10,
  };
}
