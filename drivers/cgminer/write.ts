// The write path every dialect shares: send, then confirm by reading the state
// or power back against the reading taken before, resending with backoff, and
// say clearly why a write failed. An acknowledgement is never taken as the
// effect. The dialect's own send and read-back come in as functions, so this
// module knows nothing of dialects.
import { pause, unhook, whenAborted } from "../abort.ts";
import { backoffDelayMs } from "../backoff.ts";
import {
  DriverError,
  describeError,
  type LocateReport,
  type MinerCapability,
  type MinerReading,
} from "../types.ts";

export interface ConfirmOptions {
  /** How many times a write is sent before giving up. */
  retries: number;
  /** How long to wait for the effect after each send. */
  confirmTimeoutMs: number;
  /** Pause between read-backs. */
  pollMs: number;
  /**
   * Pause before the first read-back: a miner takes a moment to act on a
   * command, and in a fleet-wide shed the read-backs would otherwise crowd the
   * commands still going out.
   */
  firstReadMs: number;
}

export const DEFAULT_CONFIRM: ConfirmOptions = {
  retries: 3,
  confirmTimeoutMs: 30_000,
  pollMs: 1000,
  firstReadMs: 0,
};

export interface WriteOutcome {
  action: MinerCapability;
  ok: boolean;
  /** Why it failed (or null): refused by the miner, not confirmed, unsupported… */
  reason: string | null;
  attempts: number;
  before: MinerReading | null;
  after: MinerReading | null;
  /** A locate: what the LED was asked, how that was confirmed, who ends it. */
  locate?: LocateReport | null;
}

/**
 * Whether `after` shows the effect of `action` against `before`. A shed is
 * confirmed by power falling (estimated power falls with hashrate), never by
 * hashrate alone: a miner without a pool already hashes at zero.
 */
export function confirms(
  { action, value }: { action: MinerCapability; value?: number | undefined },
  before: MinerReading,
  after: MinerReading,
): boolean {
  switch (action) {
    case "sleep": {
      if (after.state !== "sleeping") return false;
      if (before.powerW === null || after.powerW === null) return true;
      return after.powerW < before.powerW * 0.5 || after.powerW < 200;
    }
    case "wake":
      // the ramp to full power takes minutes; leaving sleep is the effect of the command
      return after.state === "hashing" || after.state === "starting";
    case "setPowerLimit": {
      if (value === undefined) return false;
      if (after.powerLimitW !== null) {
        // a firmware with steps (VNish presets) lands on the highest step at or below the target
        const expected = landingStep(after.powerLimitStepsW, value) ?? value;
        return Math.abs(after.powerLimitW - expected) <= Math.max(10, expected * 0.02);
      }
      return after.powerW !== null && after.powerW <= value * 1.05;
    }
    case "reboot":
      return (
        after.state !== "unreachable" &&
        after.uptimeS !== null &&
        (before.uptimeS === null || after.uptimeS < before.uptimeS)
      );
    case "locate":
      // the LED is not in a reading: a locate is confirmed by its own read-back (locate.ts)
      return false;
  }
}

/** The step a target lands on when the firmware takes steps only; null without steps or below them all. */
export function landingStep(steps: readonly number[] | null | undefined, targetW: number): number | null {
  let best: number | null = null;
  for (const s of steps ?? []) if (s <= targetW && (best === null || s > best)) best = s;
  return best;
}

/** One write to send and confirm (see sendConfirmed). */
export interface ConfirmedWrite {
  action: MinerCapability;
  value?: number;
  /** The reading the effect is judged against. */
  before: MinerReading;
  /** Sends the command once; throws a DriverError when the miner refuses it. */
  send: () => Promise<void>;
  /** One read-back. */
  readBack: () => Promise<MinerReading>;
  confirm: ConfirmOptions;
  now: () => number;
  signal?: AbortSignal;
}

/** Sends `w.action` until a read-back shows its effect or the retries run out; never throws. */
export function sendConfirmed(w: ConfirmedWrite): Promise<WriteOutcome> {
  return confirmFrom(w, 1, false);
}

/**
 * A write whose first command went out (`confirm()` reads the effect back, resending as
 * sendConfirmed does), or one already over without that (`outcome`: refused, aborted, or
 * ended after resends that all failed to go out).
 */
export type StartedWrite =
  | { readonly outcome: WriteOutcome; readonly confirm?: undefined }
  | { readonly outcome?: undefined; confirm(): Promise<WriteOutcome> };

/**
 * sendConfirmed in two phases: resolves once the first command is out, and what follows is
 * a function to call, not an async call waiting. A fleet-wide shed holds its confirmations
 * until every command is out; held as suspended calls they were ~9 KiB each.
 */
export async function startConfirmed(w: ConfirmedWrite): Promise<StartedWrite> {
  const { action, before, signal } = w;
  if (signal?.aborted)
    return { outcome: { action, ok: false, reason: "aborted", attempts: 0, before, after: null } };
  try {
    await w.send();
  } catch (err) {
    const ended = await sendFailed(w, 1, err, null);
    return { outcome: ended ?? (await confirmFrom(w, 2, false)) };
  }
  return { confirm: () => confirmFrom(w, 1, true) };
}

/**
 * After attempt `attempt`'s send threw: the outcome when retrying cannot help, else null
 * once the back-off before the next attempt has passed.
 */
async function sendFailed(
  w: ConfirmedWrite,
  attempt: number,
  err: unknown,
  after: MinerReading | null,
): Promise<WriteOutcome | null> {
  const reason = describeError(err);
  // a refusal that retrying cannot fix (access denied, unsupported) ends here; so does the last try
  if ((err instanceof DriverError && !err.retryable) || attempt >= w.confirm.retries) {
    return { action: w.action, ok: false, reason, attempts: attempt, before: w.before, after };
  }
  await pause(backoffDelayMs(attempt - 1, { baseMs: w.confirm.pollMs, maxMs: 30_000 }), w.signal);
  return null;
}

/** The attempts from `first` on; `sent`: the first of them has sent its command already. */
async function confirmFrom(w: ConfirmedWrite, first: number, sent: boolean): Promise<WriteOutcome> {
  const { action, before, confirm, signal } = w;
  let after: MinerReading | null = null;
  let reason: string | null = null;
  for (let attempt = first; attempt <= confirm.retries; attempt++) {
    if (!(sent && attempt === first)) {
      if (signal?.aborted)
        return { action, ok: false, reason: "aborted", attempts: attempt - 1, before, after };
      try {
        await w.send();
      } catch (err) {
        const ended = await sendFailed(w, attempt, err, after);
        if (ended) return ended;
        reason = describeError(err);
        continue;
      }
    }
    const deadline = w.now() + confirm.confirmTimeoutMs;
    if (confirm.firstReadMs > 0) await pause(confirm.firstReadMs, signal);
    for (;;) {
      after = await w.readBack();
      if (confirms(w, before, after))
        return { action, ok: true, reason: null, attempts: attempt, before, after };
      if (w.now() >= deadline || signal?.aborted) break;
      await pause(confirm.pollMs, signal);
    }
    reason = `not confirmed within ${Math.round(confirm.confirmTimeoutMs / 1000)} s: miner reads ${after.state}${
      after.powerW !== null ? ` at ${Math.round(after.powerW)} W` : ""
    }${after.reason ? ` (${after.reason})` : ""}`;
  }
  return { action, ok: false, reason, attempts: confirm.retries, before, after };
}

/**
 * startConfirmed for a dialect's send that says when its command is out (`onSent`) and may
 * do more after it (a LuxOS logoff): that rest waits for the follow-up, which opens when
 * confirm() is called, or at once on an abort (the loop's deadline), so that a started
 * write nobody confirms still logs its session off. A failure after the command is out is
 * the follow-up's, not the command's.
 */
export function startWithFollowUp(
  w: Omit<ConfirmedWrite, "send">,
  send: (onSent: () => Promise<void>) => Promise<void>,
): Promise<StartedWrite> {
  const { signal } = w;
  let release!: () => void;
  const followUp = new Promise<void>((r) => {
    release = r;
  });
  let armed = false;
  const open = () => {
    if (armed && signal) unhook(signal, open);
    release();
  };
  // only a dialect that waits for the follow-up (calls onSent) needs the abort to open it:
  // most never do, and a hook each on the deadline's shared signal is 20,000 in a shed
  const arm = () => {
    if (armed) return;
    armed = true;
    if (signal?.aborted) open();
    else if (signal) whenAborted(signal, open);
  };
  const sendFirst = () =>
    new Promise<void>((resolve, reject) => {
      let out = false;
      const isOut = () => {
        if (!out) {
          out = true;
          resolve();
        }
      };
      send(() => {
        isOut();
        arm();
        return followUp;
      }).then(isOut, (err: unknown) => {
        if (!out) {
          out = true;
          reject(err);
        }
      });
    });
  return startConfirmed({ ...w, send: sendFirst }).then((started) => {
    if (!started.confirm) {
      open();
      return started;
    }
    const { confirm } = started;
    return {
      confirm: () => {
        open();
        return confirm();
      },
    };
  });
}
