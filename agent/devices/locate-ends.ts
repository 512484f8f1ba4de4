// Ends the locates the firmware would leave on. A tech asks a miner to blink for
// N seconds; where its firmware ends a locate by itself (Proto's led_on_time,
// AxeOS's 30 s) nothing is left to do, but most (LuxOS, Whatsminer, Avalon,
// VNish, Auradine, ePIC, Braiins) blink until told. For those the agent keeps
// the end time, in the settings store so a restart does not forget it, and
// turns the LED off when it comes — through the same path as an operator's
// action (ledger, audit, event). An off that fails (the miner unreachable) is
// tried again a few times, then given up and logged. No timer of its own: the
// site's clock sweeps the ends every tick (an end is met within a tick), and
// tests sweep on a fake clock.
import type { LocateReport } from "../../drivers/types.ts";
import type { Logger } from "../runtime/logger.ts";
import type { StoredLocate } from "../store/settings.ts";

/** Where the pending ends are kept across restarts (the settings store). */
interface LocateStore {
  locates(): StoredLocate[];
  saveLocate(l: StoredLocate): void;
  removeLocate(deviceId: string): void;
}

export interface LocateEndsDeps {
  /** Turns one miner's LED off; resolves whether it was confirmed off. */
  turnOff(deviceId: string, reason: string): Promise<boolean>;
  store: LocateStore | null;
  logger: Logger;
  now?: () => number;
}

/** A failed off is tried again this much later, this many times in all. */
export const LOCATE_OFF_RETRY_MS = 60_000;
export const LOCATE_OFF_TRIES = 5;

interface Pending extends StoredLocate {
  /** When the next off is due: the end, then a retry after a failed off. */
  dueAt: number;
  tries: number;
  /** An off is on its way (it may take the action deadline): not sent twice. */
  busy: boolean;
}

export class LocateEnds {
  private readonly pending = new Map<string, Pending>();
  private running = false;
  private readonly now: () => number;
  /** The offs on their way, so stop() and tests can wait for them. */
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly deps: LocateEndsDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Picks up the ends a previous run left: those past due go off at the next sweep. */
  start(): void {
    if (this.running) return;
    this.running = true;
    for (const l of this.deps.store?.locates() ?? []) this.track(l);
  }

  /** Stops sweeping; the ends stay stored for the next start. */
  stop(): void {
    this.running = false;
    this.pending.clear();
  }

  /** Sends the offs that are due (the site's clock calls this every tick). */
  sweep(now: number = this.now()): void {
    if (!this.running) return;
    for (const p of this.pending.values()) {
      if (p.busy || p.dueAt > now) continue;
      const off = this.fire(p).finally(() => this.inFlight.delete(off));
      this.inFlight.add(off);
    }
  }

  /** Resolves when the offs sent so far have ended (tests; a stop need not wait). */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
  }

  /**
   * A locate was done on a miner. On: when its firmware does not end it, the agent will, after
   * `seconds`; returns the words for the outcome. Off: nothing left to end.
   */
  noted(
    deviceId: string,
    { seconds, report, by }: { seconds: number; report: LocateReport | null | undefined; by: string },
  ): string {
    this.cancel(deviceId);
    if (!report?.on || seconds <= 0) return "";
    if (report.firmwareEndsAfterS !== null) return "";
    const l: StoredLocate = { deviceId, endsAt: this.now() + seconds * 1000, by, seconds };
    this.deps.store?.saveLocate(l);
    this.track(l);
    return `; the agent turns it off at ${new Date(l.endsAt).toISOString()}`;
  }

  /** The locates the agent will end, soonest first. */
  list(): StoredLocate[] {
    return [...this.pending.values()]
      .map(({ deviceId, endsAt, by, seconds }) => ({ deviceId, endsAt, by, seconds }))
      .sort((a, b) => a.endsAt - b.endsAt);
  }

  private track(l: StoredLocate): void {
    const { deviceId, endsAt, by, seconds } = l;
    this.pending.set(deviceId, { deviceId, endsAt, by, seconds, dueAt: endsAt, tries: 0, busy: false });
  }

  private cancel(deviceId: string): void {
    this.pending.delete(deviceId);
    this.deps.store?.removeLocate(deviceId);
  }

  private async fire(p: Pending): Promise<void> {
    p.busy = true;
    p.tries++;
    const late = Math.round((this.now() - p.endsAt) / 1000);
    const reason = `locate ended after ${p.seconds} s (asked by ${p.by})${late > 5 ? `, ${late} s late` : ""}`;
    let ok = false;
    try {
      ok = await this.deps.turnOff(p.deviceId, reason);
    } catch (err) {
      this.deps.logger.warn({ err, device: p.deviceId }, "locate off failed");
    }
    p.busy = false;
    // a new locate (or an operator's off) meanwhile replaced this one, or the site stopped: it decides now
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
    p.dueAt = this.now() + LOCATE_OFF_RETRY_MS;
  }
}
