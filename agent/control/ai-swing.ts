// AI swing absorption (docs/design.md, The control loop): AI power is read from
// the GPU nodes (or an ai sub-meter) each tick. A move larger than
// control.aiStepW between two readings is an AI step; until the site meter's
// reading postdates it, the step is counted in P, so mining compensates in the
// tick that sees it rather than a meter period later. The watch also keeps the
// last minute of AI power: mining that fills an AI fall keeps the site flat, so
// that much passes the restore slope and the ramp. Pure state, no I/O.
import type { AiFall } from "./types.ts";

interface Step {
  /** When the reading that showed the step was taken. */
  at: number;
  deltaW: number;
}

/** Steps older than this are dropped whatever the meter does (a meter that stopped updating). */
const MAX_STEP_AGE_MS = 30_000;
/** The window of the AI fall: the ramp limit's own (rampUpWPerMin). */
const FALL_WINDOW_MS = 60_000;

/** This tick's AI power and when it was read; when the site meter's reading was taken (null: no meter). */
export interface AiSwingInputs {
  aiW: number | null | undefined;
  aiAt: number | null | undefined;
  powerAt: number | null | undefined;
}

export class AiSwingWatch {
  private lastW: number | null = null;
  private lastAt: number | null = null;
  private steps: Step[] = [];
  private history: Array<{ at: number; w: number }> = [];

  constructor(private readonly stepW: number) {}

  /**
   * Notes this tick's AI power (read at aiAt) and returns the sum of the steps the site meter
   * has not shown yet: those read after `powerAt` (the time of the meter's reading). 0 without
   * a meter reading (P is then an estimate from the same device reports).
   */
  observe({ aiW, aiAt, powerAt }: AiSwingInputs, now: number): number {
    const at = aiAt ?? now;
    if (aiW != null && at !== this.lastAt) {
      if (this.lastW !== null && Math.abs(aiW - this.lastW) > this.stepW) {
        this.steps.push({ at, deltaW: aiW - this.lastW });
      }
      this.lastW = aiW;
      this.lastAt = at;
      this.history.push({ at, w: aiW });
    }
    this.history = this.history.filter((h) => now - h.at <= FALL_WINDOW_MS);
    // a step the meter's reading postdates is in P already
    this.steps = this.steps.filter(
      (s) => now - s.at <= MAX_STEP_AGE_MS && (powerAt == null || s.at > powerAt),
    );
    if (powerAt == null) return 0;
    let sum = 0;
    for (const s of this.steps) sum += s.deltaW;
    return sum;
  }

  /** How far AI is below its highest of the last minute, and when that was; null without a fall. */
  fall(): AiFall | null {
    if (this.lastW === null || this.history.length === 0) return null;
    let peak = this.history[0]!;
    for (const h of this.history) if (h.w >= peak.w) peak = h;
    const fallW = peak.w - this.lastW;
    return fallW > this.stepW ? { fallW, since: peak.at } : null;
  }
}
