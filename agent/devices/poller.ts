// Sweeps a driver's devices on a fixed period with bounded concurrency. Each
// read has a deadline; a device that keeps failing is retried with exponential
// backoff and jitter instead of every sweep, so a dead rack neither slows the
// sweep nor floods the network. Reads never throw into the poller (drivers
// return failure states), but a throwing read is caught and counted anyway.

import { abortReason } from "../../drivers/abort.ts";
import { backoffDelayMs } from "../../drivers/backoff.ts";
import type { Logger } from "../runtime/logger.ts";

export interface PollTarget<R> {
  id: string;
  read(signal: AbortSignal): Promise<R>;
}

export interface PollerOptions<R> {
  name: string;
  targets: PollTarget<R>[];
  intervalMs: number;
  /** Reads in flight at once (a pool per driver). */
  concurrency: number;
  /** Hard deadline of one read; the driver's own timeouts should fire first. */
  timeoutMs: number;
  /** True when the reading counts as a failure for backoff (e.g. unreachable). */
  isFailure: (reading: R) => boolean;
  onReading: (id: string, reading: R) => void;
  /** Called with a failure when the read itself threw or overran its deadline. */
  onError: (id: string, error: Error) => void;
  logger: Logger;
  /** After each scheduled sweep (telemetry per poll cycle, metrics). Must not throw. */
  onSweep?: (stats: SweepStats) => void;
  backoff?: { baseMs: number; maxMs: number };
  random?: () => number;
  now?: () => number;
}

export interface SweepStats {
  durationMs: number;
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
  /** Ends a read in flight (stop()): aborts its signal and settles it at once. */
  private readonly inFlight = new Set<(err: Error) => void>();
  private stopped = true;
  lastSweep: SweepStats | null = null;
  sweeps = 0;

  constructor(opts: PollerOptions<R>) {
    this.opts = opts;
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
    const reason = abortReason(this.abort.signal);
    for (const end of [...this.inFlight]) end(reason);
    await this.running;
  }

  private loop(): void {
    if (this.stopped) return;
    const startedAt = Date.now();
    this.running = this.sweep().then(
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

  /** One pass over every device that is due. Exposed for tests and benches. */
  async sweep(): Promise<SweepStats> {
    const now = this.opts.now ?? Date.now;
    const started = now();
    const due = this.opts.targets.filter((t) => (this.schedule.get(t.id)?.nextAttemptAt ?? 0) <= started);
    let next = 0;
    let failed = 0;
    const worker = async () => {
      while (next < due.length && !this.abort.signal.aborted) {
        const target = due[next++]!;
        if (!(await this.readOne(target))) failed++;
      }
    };
    const workers = Array.from({ length: Math.min(this.opts.concurrency, due.length) }, worker);
    await Promise.all(workers);
    return {
      durationMs: now() - started,
      attempted: due.length,
      skippedBackoff: this.opts.targets.length - due.length,
      failed,
    };
  }

  private async readOne(target: PollTarget<R>): Promise<boolean> {
    // one controller per read, ended by its deadline or by stop(); a referenced
    // timer (AbortSignal.timeout's is unref'd) so a hung read always ends. The
    // read is cut off by a promise the deadline or stop() rejects, not by abort
    // listeners: an EventTarget listener per read was a tenth of a sweep's CPU.
    const deadline = new AbortController();
    let cut!: (err: Error) => void;
    const cutOff = new Promise<never>((_, reject) => {
      cut = reject;
    });
    const end = (err: Error) => {
      deadline.abort(err);
      cut(err);
    };
    const timer = setTimeout(
      () => end(new Error(`no result within ${this.opts.timeoutMs} ms`)),
      this.opts.timeoutMs,
    );
    this.inFlight.add(end);
    let ok: boolean;
    try {
      const reading = this.abort.signal.aborted
        ? await Promise.reject(abortReason(this.abort.signal))
        : await Promise.race([target.read(deadline.signal), cutOff]);
      ok = !this.opts.isFailure(reading);
      if (!this.abort.signal.aborted) this.opts.onReading(target.id, reading);
    } catch (err) {
      ok = false;
      if (!this.abort.signal.aborted) this.opts.onError(target.id, err as Error);
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(end);
    }
    this.reschedule(target.id, ok);
    return ok;
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
  return new AbortController();
}
