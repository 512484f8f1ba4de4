// AI swing absorption (docs/design.md, The control loop): AI power is read from
// the GPU nodes (or an ai sub-meter) each tick. A move larger than
// control.aiStepW between two ticks is an AI step; until the site meter's
// reading postdates it, the step is counted in P, so mining compensates in the
// tick that sees it rather than a meter period later. Pure state, no I/O.

interface Step {
  /** When the reading that showed the step was taken. */
  at: number;
  deltaW: number;
}

/** Steps older than this are dropped whatever the meter does (a meter that stopped updating). */
const MAX_STEP_AGE_MS = 30_000;

export class AiSwingWatch {
  private lastW: number | null = null;
  private steps: Step[] = [];

  constructor(private readonly stepW: number) {}

  /**
   * Notes this tick's AI power (read at aiAt) and returns the sum of the steps the site meter
   * has not shown yet: those read after `powerAt` (the time of the meter's reading). 0 without
   * a meter reading (P is then an estimate from the same device reports).
   */
  observe(
    aiW: number | null | undefined,
    aiAt: number | null | undefined,
    powerAt: number | null | undefined,
    now: number,
  ): number {
    if (aiW != null) {
      if (this.lastW !== null && Math.abs(aiW - this.lastW) > this.stepW) {
        this.steps.push({ at: aiAt ?? now, deltaW: aiW - this.lastW });
      }
      this.lastW = aiW;
    }
    // a step the meter's reading postdates is in P already
    this.steps = this.steps.filter(
      (s) => now - s.at <= MAX_STEP_AGE_MS && (powerAt == null || s.at > powerAt),
    );
    if (powerAt == null) return 0;
    let sum = 0;
    for (const s of this.steps) sum += s.deltaW;
    return sum;
  }
}
