// Sweeps a driver's devices on a fixed period with bounded concurrency. Each
// read has a deadline; a device that keeps failing is retried with exponential
// backoff and jitter instead of every sweep, so a dead rack neither slows the
// sweep nor floods the network. Reads never throw into the poller (drivers
// return failure states), but a throwing read is caught and counted anyway.

import { setMaxListeners } from "node:events";
import { abortReason } from "../../drivers/abort.ts";
import { backoffDelayMs } from "../../drivers/backoff.ts";
import type { Logger } from "../runtime/logger.ts";
import { DeadlineSlots } from "./deadline-slots.ts";
import { nextSweepWidth } from "./sweep-width.ts";

export interface PollTarget<R> {
  id: string;
  read(signal: AbortSignal): Promise<R>;
}

export interface PollerOptions<R> {
  name: string;
  targets: PollTarget<R>[];
  intervalMs: number;
  /** Reads in flight at once (a pool per driver): the most, with `minConcurrency`. */
  concurrency: number;
  /**
   * Set (below `concurrency`): the scheduled sweeps keep fewer reads in flight while every read
   * of a sweep starts early in the period, down to this many, and widen again when reads queue
   * long (sweep-width.ts). The first sweep, and any a caller runs itself, use `concurrency`.
   */
  minConcurrency?: number;
  /** Hard deadline of one read; the driver's own timeouts should fire first. */
  timeoutMs: number;
  /** True when the reading counts as a failure for backoff (e.g. unreachable). */
  isFailure: (reading: R) => boolean;
  /** `startedAt`: when its read began (a write's read-back after it is newer than the reading). */
  onReading: (id: string, reading: R, startedAt: number) => void;
  /** Called with a failure when the read itself threw or overran its deadline. */
  onError: (id: string, error: Error) => void;
  logger: Logger;
  /**
   * Asked before each read: null to read now, else a promise to wait for first (the control
   * loop's commands going out: command-first.ts); it must end when `signal` (the stop) aborts.
   */
  waitTurn?: (signal: AbortSignal) => Promise<void> | null;
  /** After each scheduled sweep (telemetry per poll cycle, metrics). Must not throw. */
  onSweep?: (stats: SweepStats) => void;
  backoff?: { baseMs: number; maxMs: number };
  random?: () => number;
  now?: () => number;
}

export interface SweepStats {
  durationMs: number;
  /** The most reads it had in flight at once: its width, or fewer when fewer were due. */
  inFlightMax: number;
  /**
   * From its start to the start of its last read: how long reads queued for a place. Unlike
   * durationMs, a read that hangs to its deadline at the end does not count.
   */
  queueMs: number;
  /**
   * How busy the event loop was over queueMs (0–1, Node's event-loop utilisation): near 1, reads
   * queued because the process had no time to start them, not for want of places (sweep-width.ts).
   */
  loopBusy: number;
  attempted: number;
  skippedBackoff: number;
  failed: number;
}

interface DeviceSchedule {
  failures: number;
  nextAttemptAt: number;
}

export class Poller<R> {
  private readonly opts: PollerOptions<R>;
  private readonly schedule = new Map<string, DeviceSchedule>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private abort = newStopController();
  /** The reads' deadlines, shared by the reads started together; stop() ends them all. */
  private readonly deadlines: DeadlineSlots;
  private stopped = true;
  lastSweep: SweepStats | null = null;
  sweeps = 0;
  /** Reads in flight in the next scheduled sweep (sweep-width.ts). */
  width: number;

  constructor(opts: PollerOptions<R>) {
    this.opts = opts;
    this.deadlines = new DeadlineSlots(opts.timeoutMs);
    this.width = opts.concurrency;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.abort = newStopController();
    this.loop();
  }

  /** Stops the period, aborts reads in flight and waits for the current sweep to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.abort.abort();
    this.deadlines.endAll(abortReason(this.abort.signal));
    await this.running;
  }

  private loop(): void {
    if (this.stopped) return;
    const startedAt = Date.now();
    this.running = this.scheduledSweep().then(
      (stats) => {
        this.lastSweep = stats;
        this.sweeps++;
        try {
          this.opts.onSweep?.(stats);
        } catch (err) {
          this.opts.logger.warn({ err }, "sweep listener threw");
        }
      },
      (err: Error) => this.opts.logger.error({ err }, "sweep failed"),
    );
    void this.running.finally(() => {
      if (this.stopped) return;
      // a sweep that overran its period starts the next one at once, never overlapping
      const wait = Math.max(0, this.opts.intervalMs - (Date.now() - startedAt));
      this.timer = setTimeout(() => this.loop(), wait);
    });
  }

  /**
   * One sweep as the period runs it: `width` reads at a time, then the width for the next one
   * from how long this one's reads queued. The bench measures the agent's sweeps through it.
   */
  async scheduledSweep(): Promise<SweepStats> {
    const stats = await this.sweep(this.width);
    this.adaptWidth(stats);
    return stats;
  }

  private adaptWidth(stats: SweepStats): void {
    const min = this.opts.minConcurrency;
    if (min === undefined || min >= this.opts.concurrency) return;
    const width = nextSweepWidth(this.width, stats.queueMs, this.opts.intervalMs, stats.loopBusy, {
      min,
      max: this.opts.concurrency,
    });
    if (width !== this.width)
      this.opts.logger.debug(
        { from: this.width, to: width, queueMs: Math.round(stats.queueMs), loopBusy: stats.loopBusy },
        "reads in flight per sweep changed",
      );
    this.width = width;
  }

  /** One pass over every device that is due, `width` reads at a time. Exposed for tests and benches. */
  async sweep(width = this.opts.concurrency): Promise<SweepStats> {
    const now = this.opts.now ?? Date.now;
    const started = now();
    const due = this.opts.targets.filter((t) => (this.schedule.get(t.id)?.nextAttemptAt ?? 0) <= started);
    let next = 0;
    let failed = 0;
    let queuedUntil = started;
    // the loop's busy share is read only where reads queue: with no more due than the width,
    // every read has a place from the start, and starting them all says nothing of a queue
    const loopAtStart = due.length > width ? performance.eventLoopUtilization() : null;
    let loopBusy = 0;
    const worker = async () => {
      while (next < due.length && !this.abort.signal.aborted) {
        const turn = this.opts.waitTurn?.(this.abort.signal);
        if (turn) {
          await turn;
          if (this.abort.signal.aborted || next >= due.length) break;
        }
        const target = due[next++]!;
        if (next === due.length) {
          queuedUntil = now();
          if (loopAtStart) loopBusy = performance.eventLoopUtilization(loopAtStart).utilization;
        }
        if (!(await this.readOne(target))) failed++;
      }
    };
    const workers = Array.from({ length: Math.min(width, due.length) }, worker);
    await Promise.all(workers);
    return {
      durationMs: now() - started,
      inFlightMax: workers.length,
      queueMs: queuedUntil - started,
      loopBusy,
      attempted: due.length,
      skippedBackoff: this.opts.targets.length - due.length,
      failed,
    };
  }

  private readOne(target: PollTarget<R>): Promise<boolean> {
    if (this.abort.signal.aborted) return Promise.resolve(false);
    // the deadline is the slot's (deadline-slots.ts): one controller and timer for the reads
    // started together. The read is cut off by its `end`, which the deadline or stop() calls,
    // not by abort listeners: a read that ignores its signal still ends on time.
    const slot = this.deadlines.join();
    const startedAt = (this.opts.now ?? Date.now)();
    return new Promise<boolean>((resolve) => {
      let done = false;
      const settle = (reading: R | undefined, err: Error | null): void => {
        if (done) return;
        done = true;
        slot.ends.delete(end);
        this.deadlines.left(slot);
        const ok = err === null && this.report(target.id, reading as R, startedAt);
        if (err !== null && !this.abort.signal.aborted) this.opts.onError(target.id, err);
        this.reschedule(target.id, ok);
        resolve(ok);
      };
      const end = (err: Error) => settle(undefined, err);
      slot.ends.add(end);
      try {
        target.read(slot.signal).then(
          (reading) => settle(reading, null),
          (err: Error) => settle(undefined, err),
        );
      } catch (err) {
        settle(undefined, err as Error);
      }
    });
  }

  /** Hands a reading on; true when it counts as a success. A listener that throws makes it a failure. */
  private report(id: string, reading: R, startedAt: number): boolean {
    try {
      const ok = !this.opts.isFailure(reading);
      if (!this.abort.signal.aborted) this.opts.onReading(id, reading, startedAt);
      return ok;
    } catch (err) {
      if (!this.abort.signal.aborted) this.opts.onError(id, err as Error);
      return false;
    }
  }

  private reschedule(id: string, ok: boolean): void {
    if (ok) {
      this.schedule.delete(id);
      return;
    }
    const { baseMs, maxMs } = this.opts.backoff ?? { baseMs: this.opts.intervalMs, maxMs: 60_000 };
    const s = this.schedule.get(id) ?? { failures: 0, nextAttemptAt: 0 };
    s.failures++;
    // the first failure is retried on the next sweep; later ones back off exponentially
    const delayMs = s.failures <= 1 ? 0 : backoffDelayMs(s.failures - 2, { baseMs, maxMs }, this.opts.random);
    s.nextAttemptAt = (this.opts.now ?? Date.now)() + delayMs;
    this.schedule.set(id, s);
  }

  /** Consecutive failures of a device (0 when healthy). */
  failures(id: string): number {
    return this.schedule.get(id)?.failures ?? 0;
  }
}

/** The controller stop() aborts: the sweep's workers check it between reads (reads in flight are ended by stop() itself). */
function newStopController(): AbortController {
  const c = new AbortController();
  // each worker waiting for its turn (waitTurn) listens for the stop: hundreds at once, no leak
  setMaxListeners(0, c.signal);
  return c;
}
