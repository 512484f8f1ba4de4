// The `locate` write (blink a miner's LED so a tech finds it in the rack), the
// same way for every dialect: send, then confirm by reading the LED state back
// where the firmware reports it, resending within the retries when it does not
// show; where the firmware only states its state in the reply to the command
// (AxeOS identify), that reply is the confirmation; where it says nothing at
// all, the outcome says so rather than claiming a confirmed effect. A dialect
// gives only the firmware's own requests (LocateSpec); who ends a locate that
// is on (the firmware after the time asked, after its own fixed time, or no
// one until told) is data, so the agent knows whether it must turn it off.
import { pause } from "../abort.ts";
import { backoffDelayMs } from "../backoff.ts";
import { DriverError, describeError, type LocateReport } from "../types.ts";

/** How long a locate blinks when the caller gives no time (the agent's default too). */
export const DEFAULT_LOCATE_S = 300;

/** A dialect's locate: the firmware's requests, and how a locate ends there. */
export interface LocateSpec<C> {
  /**
   * Turns locating on for `seconds` (> 0) or off (0); throws a DriverError when the unit
   * refuses. Returns the state the firmware's reply states where it has no read of its own
   * (a toggle that answers what it did), else nothing.
   */
  set(ctx: C, seconds: number): Promise<boolean | undefined>;
  /** Whether the unit is locating, as it reports it; absent where the firmware does not say. */
  read?(ctx: C): Promise<boolean>;
  /**
   * How a locate ends on this firmware: "asked" = it takes the duration and ends it itself;
   * a number = it ends after that many seconds whatever was asked; null = it stays on until
   * told (the agent turns it off).
   */
  endsAfter: "asked" | number | null;
}

export interface LocateOptions {
  retries: number;
  /** How long the read-back waits for the LED to show the state asked, after each send. */
  confirmTimeoutMs: number;
  pollMs: number;
  now: () => number;
  signal?: AbortSignal;
  /** Called once the command is on the wire, before its read-back. */
  onSent?: () => Promise<void> | void;
}

export interface LocateResult {
  ok: boolean;
  /** Why it failed, or what was done and how it is known (shown in the audit entry). */
  reason: string;
  attempts: number;
  report: LocateReport | null;
}

/** When a locate turned on for `seconds` ends by itself, on a firmware that ends it as `endsAfter` says. */
function firmwareEndsAfterS(endsAfter: LocateSpec<unknown>["endsAfter"], seconds: number): number | null {
  if (seconds <= 0 || endsAfter === null) return null;
  return endsAfter === "asked" ? seconds : endsAfter;
}

/** The outcome in words: what the LED does, how that is known, who ends it. */
function describeLocate(report: LocateReport, seconds: number): string {
  const how =
    report.confirmedBy === "read-back"
      ? "read back"
      : report.confirmedBy === "reply"
        ? "as the unit's reply states; it has no LED read-back"
        : "sent; NOT confirmed: this firmware does not report its LED state";
  if (!report.on) return `locate off (${how})`;
  const ends =
    report.firmwareEndsAfterS === null
      ? "the firmware keeps it on until told"
      : report.firmwareEndsAfterS === seconds
        ? `the firmware ends it after ${seconds} s`
        : `the firmware ends it after its own ${report.firmwareEndsAfterS} s (asked ${seconds} s)`;
  return `locate on for ${seconds} s (${how}); ${ends}`;
}

/** Sends a locate on (`seconds` > 0) or off (0) and confirms it as far as the firmware allows; never throws. */
export async function runLocate<C>(
  spec: LocateSpec<C>,
  ctx: C,
  { seconds, ...opts }: LocateOptions & { seconds: number },
): Promise<LocateResult> {
  if (!Number.isFinite(seconds) || seconds < 0) {
    return { ok: false, reason: "locate needs seconds ≥ 0 (0 = off)", attempts: 0, report: null };
  }
  const on = seconds > 0;
  const base = { on, firmwareEndsAfterS: on ? firmwareEndsAfterS(spec.endsAfter, seconds) : null };
  let reason = "not sent";
  for (let attempt = 1; attempt <= opts.retries; attempt++) {
    if (opts.signal?.aborted) return { ok: false, reason: "aborted", attempts: attempt - 1, report: null };
    let stated: boolean | undefined;
    try {
      stated = await spec.set(ctx, seconds);
      await opts.onSent?.();
    } catch (err) {
      reason = describeError(err);
      // a refusal that retrying cannot fix (access denied, unsupported) ends here
      if (err instanceof DriverError && !err.retryable)
        return { ok: false, reason, attempts: attempt, report: null };
      await pause(backoffDelayMs(attempt - 1, { baseMs: opts.pollMs, maxMs: 30_000 }), opts.signal);
      continue;
    }
    if (spec.read) {
      const deadline = opts.now() + opts.confirmTimeoutMs;
      let seen: string | undefined;
      for (;;) {
        try {
          const led = await spec.read(ctx);
          if (led === on) {
            const report: LocateReport = { ...base, confirmedBy: "read-back" };
            return { ok: true, reason: describeLocate(report, seconds), attempts: attempt, report };
          }
          seen = `the unit reports its LED ${led ? "on" : "off"}`;
        } catch (err) {
          if (err instanceof DriverError && !err.retryable) {
            // this unit does not say (an older firmware without the field): its reply to the
            // command, where it stated the state, else sent and said so
            if (stated !== undefined && stated !== on) {
              reason = `locate ${on ? "on" : "off"} not done: the unit answered that it is ${stated ? "" : "not "}locating`;
              break;
            }
            const report: LocateReport = { ...base, confirmedBy: stated === undefined ? null : "reply" };
            const why = `${describeLocate(report, seconds)} (${describeError(err)})`;
            return { ok: true, reason: why, attempts: attempt, report };
          }
          seen = `its LED state could not be read: ${describeError(err)}`;
        }
        if (opts.now() >= deadline || opts.signal?.aborted) break;
        await pause(opts.pollMs, opts.signal);
      }
      if (seen !== undefined)
        reason = `locate ${on ? "on" : "off"} not confirmed within ${Math.round(opts.confirmTimeoutMs / 1000)} s: ${seen}`;
      continue;
    }
    if (stated !== undefined) {
      if (stated === on) {
        const report: LocateReport = { ...base, confirmedBy: "reply" };
        return { ok: true, reason: describeLocate(report, seconds), attempts: attempt, report };
      }
      reason = `locate ${on ? "on" : "off"} not done: the unit answered that it is ${stated ? "" : "not "}locating`;
      continue;
    }
    const report: LocateReport = { ...base, confirmedBy: null };
    return { ok: true, reason: describeLocate(report, seconds), attempts: attempt, report };
  }
  return { ok: false, reason, attempts: opts.retries, report: null };
}
