// Each action's deadline, by the slot (agent/devices/deadline-slots.ts): the actions
// begun within one slot of time share one AbortController and one timer, instead of
// one each for 20,000 in a fleet-wide shed. One set of slots per timeout (a drain
// command has its own). Slots go once nothing is in them: no timer outlives a burst.
import { DeadlineSlots } from "../devices/deadline-slots.ts";
import type { PlanAction } from "./types.ts";

/** An action that ran past its deadline. */
export class ActionTimeout extends Error {}

/** A deadline told by callback has no promise to race. */
const NEVER: Promise<never> = new Promise<never>(() => {});

export interface ActionDeadline {
  /** Aborts at the deadline. */
  signal: AbortSignal;
  /**
   * Rejects at the deadline. With a callback given instead it never settles: race it only
   * without one (each race would leave a reaction on it for good).
   */
  expired: Promise<never>;
  /** The action is over: its deadline is forgotten. */
  done(): void;
}

export class ActionDeadlines {
  private readonly byTimeout = new Map<number, DeadlineSlots>();

  constructor(private readonly timeoutMsFor: (a: PlanAction) => number) {}

  /**
   * The deadline of `a`, begun now: its signal aborts, and `expired` rejects (or `onExpired`
   * is called), no sooner than the action's timeout from now, at most a slot later.
   */
  start(a: PlanAction, onExpired?: (err: Error) => void): ActionDeadline {
    const timeoutMs = this.timeoutMsFor(a);
    let slots = this.byTimeout.get(timeoutMs);
    if (!slots) {
      slots = new DeadlineSlots(timeoutMs, Date.now, { keepCurrent: false });
      this.byTimeout.set(timeoutMs, slots);
    }
    const slot = slots.join();
    const timeout = () => new ActionTimeout(`no confirmation within ${timeoutMs} ms`);
    let end: () => void;
    let expired = NEVER;
    if (onExpired) {
      end = () => onExpired(timeout());
    } else {
      let reject!: (err: Error) => void;
      expired = new Promise<never>((_, r) => {
        reject = r;
      });
      end = () => reject(timeout());
    }
    slot.ends.add(end);
    const inSlots = slots;
    return {
      signal: slot.signal,
      expired,
      done: () => {
        slot.ends.delete(end);
        inSlots.left(slot);
      },
    };
  }
}
