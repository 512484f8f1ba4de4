// Read deadlines by the slot: every read started within the same slot of time
// (a twentieth of the deadline, at most 250 ms) shares one AbortController and
// one timer, which end them all once the latest of them is due. A sweep of
// 5,000 miners made 5,000 controllers and timers of its own, and those were a
// fifth of the sweep's CPU; shared, a read runs at most one slot past its
// deadline, never short of it.
import { setMaxListeners } from "node:events";

/** One slot: the signal its reads get, and how to end each read still in flight. */
export interface DeadlineSlot {
  readonly signal: AbortSignal;
  /** Reads in flight in this slot: each is ended with the deadline's error. */
  readonly ends: Set<(err: Error) => void>;
}

interface Slot extends DeadlineSlot {
  key: number;
  controller: AbortController;
  timer: NodeJS.Timeout;
}

export class DeadlineSlots {
  private readonly timeoutMs: number;
  private readonly slotMs: number;
  private readonly slots = new Map<number, Slot>();
  /** The slot reads join now (the newest); by default kept even while empty, since the next read likely joins it. */
  private current: Slot | null = null;
  private readonly now: () => number;
  private readonly keepCurrent: boolean;

  /**
   * `now`: the clock that places a read in its slot (tests); the timers run on real time.
   * `keepCurrent: false`: the newest slot goes too once nothing is in it, so that no timer
   * outlives the work (the control loop's actions come in bursts, a poller's reads do not).
   */
  constructor(timeoutMs: number, now: () => number = Date.now, { keepCurrent = true } = {}) {
    this.timeoutMs = timeoutMs;
    this.now = now;
    this.keepCurrent = keepCurrent;
    this.slotMs = Math.min(250, Math.max(1, Math.floor(timeoutMs / 20)));
  }

  /** The slot of a read starting now: its signal aborts, and its ends are called, no sooner than timeoutMs from now. */
  join(): DeadlineSlot {
    const now = this.now();
    const key = Math.ceil((now + this.timeoutMs) / this.slotMs);
    if (this.current?.key === key) return this.current;
    const previous = this.current;
    const controller = new AbortController();
    // every read of the slot may listen to its signal (drivers hook through whenAborted,
    // Node's own APIs add a listener each): many listeners here are by design, not a leak
    setMaxListeners(0, controller.signal);
    const slot: Slot = {
      key,
      controller,
      signal: controller.signal,
      ends: new Set(),
      // referenced (unlike AbortSignal.timeout's): a hung read always ends. One ms more: node
      // counts a timer from its loop's cached clock, which can lag Date.now by a ms, and the
      // timer then fires a ms short of the deadline (a test saw 99 ms of 100)
      timer: setTimeout(() => this.expire(slot), key * this.slotMs - now + 1),
    };
    this.slots.set(key, slot);
    this.current = slot;
    if (previous && previous.ends.size === 0) this.drop(previous);
    return slot;
  }

  /** A read of `slot` has settled: a slot no read needs any more goes, timer and all. */
  left(slot: DeadlineSlot): void {
    const s = slot as Slot;
    if (s.ends.size === 0 && (s !== this.current || !this.keepCurrent)) this.drop(s);
  }

  /** Ends every read in flight with `err` (stop()) and clears every timer. */
  endAll(err: Error): void {
    for (const slot of [...this.slots.values()]) this.end(slot, err);
  }

  /** Slots holding a timer (for tests: none after endAll). */
  get size(): number {
    return this.slots.size;
  }

  private expire(slot: Slot): void {
    this.end(slot, new Error(`no result within ${this.timeoutMs} ms`));
  }

  /** Drops the slot, aborts its signal and ends each of its reads still in flight with `err`. */
  private end(slot: Slot, err: Error): void {
    this.drop(slot);
    slot.controller.abort(err);
    for (const end of [...slot.ends]) end(err);
  }

  private drop(slot: Slot): void {
    clearTimeout(slot.timer);
    this.slots.delete(slot.key);
    if (this.current === slot) this.current = null;
  }
}
