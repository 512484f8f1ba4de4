// Ends the locates the firmware would leave on. A tech asks a miner to blink for
// N seconds; where its firmware ends a locate by itself (Proto's led_on_time,
// AxeOS's 30 s) nothing is left to do, but most (LuxOS, Whatsminer, Avalon,
// VNish, Auradine, ePIC, Braiins) blink until told. For those the agent keeps
// the end time, in the settings store so a restart does not forget it, and
// turns the LED off when it comes — through the same path as an operator's
// action (ledger, audit, event). An off that fails (the miner unreachable) is
// tried again a few times, then given up and logged. Time and timers are
// injected, so the logic is tested on a fake clock.
import type { LocateReport } from "../drivers/types.ts";
import type { Logger } from "./logger.ts";
import type { StoredLocate } from "./store/settings.ts";

/** Where the pending ends are kept across restarts (the settings store). */
export interface LocateStore {
  locates(): StoredLocate[];
  saveLocate(l: StoredLocate): void;
  removeLocate(deviceId: string): void;
}

export interface LocateTimerDeps {
  /** Turns one miner's LED off; resolves whether it was confirmed off. */
  turnOff(deviceId: string, reason: string): Promise<boolean>;
  store: LocateStore | null;
  logger: Logger;
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

/** A failed off is tried again this much later, this many times in all. */
export const LOCATE_OFF_RETRY_MS = 60_000;
export const LOCATE_OFF_TRIES = 5;

interface Pending extends StoredLocate {
  handle: unknown;
  tries: number;
}

export class LocateTimers {
  private readonly pending = new Map<string, Pending>();
  private running = false;
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;

  constructor(private readonly deps: LocateTimerDeps) {
    this.now = deps.now ?? Date.now;
    this.setTimer =
      deps.setTimer ??
      ((fn, ms) => {
        const t = setTimeout(fn, ms);
        // a blinking LED must not keep the process up
        t.unref();
        return t;
      });
    this.clearTimer = deps.clearTimer ?? ((h) => clearTimeout(h as NodeJS.Timeout));
  }

  /** Picks up the ends a previous run left: those past due are turned off at once. */
  start(): void {
    if (this.running) return;
    this.running = true;
    for (const l of this.deps.store?.locates() ?? []) this.schedule({ ...l, handle: null, tries: 0 });
  }

  /** Stops the timers; the ends stay stored for the next start. */
  stop(): void {
    this.running = false;
    for (const p of this.pending.values()) this.clearTimer(p.handle);
    this.pending.clear();
  }

  /**
   * A locate was done on a miner. On: when its firmware does not end it, the agent will, after
   * `seconds`; returns the words for the outcome. Off: nothing left to end.
   */
  noted(deviceId: string, seconds: number, report: LocateReport | null | undefined, by: string): string {
    this.cancel(deviceId);
    if (!report?.on || seconds <= 0) return "";
    if (report.firmwareEndsAfterS !== null) return "";
    const endsAt = this.now() + seconds * 1000;
    const l: Pending = { deviceId, endsAt, by, seconds, handle: null, tries: 0 };
    this.deps.store?.saveLocate(l);
    this.schedule(l);
    return `; the agent turns it off at ${new Date(endsAt).toISOString()}`;
  }

  /** The locates the agent will end, soonest first. */
  list(): StoredLocate[] {
    return [...this.pending.values()]
      .map(({ deviceId, endsAt, by, seconds }) => ({ deviceId, endsAt, by, seconds }))
      .sort((a, b) => a.endsAt - b.endsAt);
  }

  private cancel(deviceId: string): void {
    const p = this.pending.get(deviceId);
    if (p) this.clearTimer(p.handle);
    this.pending.delete(deviceId);
    this.deps.store?.removeLocate(deviceId);
  }

  private schedule(p: Pending): void {
    if (!this.running) {
      // before start(): remembered, armed by start()
      this.pending.set(p.deviceId, p);
      return;
    }
    const prior = this.pending.get(p.deviceId);
    if (prior) this.clearTimer(prior.handle);
    p.handle = this.setTimer(() => void this.fire(p), Math.max(0, p.endsAt - this.now()));
    this.pending.set(p.deviceId, p);
  }

  private async fire(p: Pending): Promise<void> {
    if (this.pending.get(p.deviceId) !== p || !this.running) return;
    p.tries++;
    const late = Math.round((this.now() - p.endsAt) / 1000);
    const reason = `locate ended after ${p.seconds} s (asked by ${p.by})${late > 5 ? `, ${late} s late` : ""}`;
    let ok = false;
    try {
      ok = await this.deps.turnOff(p.deviceId, reason);
    } catch (err) {
      this.deps.logger.warn({ err, device: p.deviceId }, "locate off failed");
    }
    // a new locate (or an operator's off) meanwhile replaced this one: it decides now
    if (this.pending.get(p.deviceId) !== p) return;
    if (ok) {
      this.cancel(p.deviceId);
      return;
    }
    if (p.tries >= LOCATE_OFF_TRIES) {
      this.deps.logger.warn(
        { device: p.deviceId, tries: p.tries },
        `${p.deviceId}: its locate LED could not be turned off after ${p.tries} tries; it may still blink`,
      );
      this.cancel(p.deviceId);
      return;
    }
    if (!this.running) return;
    p.handle = this.setTimer(() => void this.fire(p), LOCATE_OFF_RETRY_MS);
  }
}
