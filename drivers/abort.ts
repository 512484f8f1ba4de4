// Racing a promise against an AbortSignal, for work that cannot itself be
// cancelled (an SSH exec already sent, a dialect read deep in its own
// timeouts): the caller stops waiting at once; the work settles on its own.
// A helper shared by drivers and agent, not a driver.
import { setTimeout as delay } from "node:timers/promises";

/** The signal's reason when it is an Error, else a plain "aborted". */
export function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error("aborted");
}

/** Callbacks per signal, behind the one EventTarget listener each signal gets (whenAborted). */
const hooks = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Calls `fn` once when `signal` aborts, until unhooked. Every request on one
 * signal shares one EventTarget listener: a poller hands one deadline signal to
 * all the reads it starts together (agent/devices/deadline-slots.ts), and an
 * EventTarget listener per request — each add walks the signal's listeners for
 * a duplicate — cost more than the request's parsing. The caller checks
 * `signal.aborted` first: an aborted signal calls nothing later.
 */
export function whenAborted(signal: AbortSignal, fn: () => void): void {
  let fns = hooks.get(signal);
  if (!fns) {
    const mine = new Set<() => void>();
    fns = mine;
    hooks.set(signal, mine);
    signal.addEventListener(
      "abort",
      () => {
        hooks.delete(signal);
        for (const f of [...mine]) f();
      },
      { once: true },
    );
  }
  fns.add(fn);
}

/** Takes back a whenAborted() callback (the request ended first). */
export function unhook(signal: AbortSignal, fn: () => void): void {
  hooks.get(signal)?.delete(fn);
}

/** Settles as `p` does, or rejects with the signal's reason as soon as it aborts. */
export function raceSignal<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    whenAborted(signal, onAbort);
    p.then(
      (v) => {
        unhook(signal, onAbort);
        resolve(v);
      },
      (e) => {
        unhook(signal, onAbort);
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
