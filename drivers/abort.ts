// Racing a promise against an AbortSignal, for work that cannot itself be
// cancelled (an SSH exec already sent, a dialect read deep in its own
// timeouts): the caller stops waiting at once; the work settles on its own.
// A helper shared by drivers and agent, not a driver.
import { setTimeout as delay } from "node:timers/promises";

/** The signal's reason when it is an Error, else a plain "aborted". */
export function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error("aborted");
}

/** Settles as `p` does, or rejects with the signal's reason as soon as it aborts. */
export function raceSignal<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

/** Waits `ms`, or less when the signal aborts first; never rejects (the caller looks at the signal). */
export async function pause(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, { signal });
  } catch {
    // aborted: the caller sees the signal
  }
}
