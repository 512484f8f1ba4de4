// The pollers' sweeps as the site hears them: each sweep's duration as a
// metric (only for a driver with devices configured), then to the listeners
// (the MQTT channel's device telemetry per poll cycle); and the wait for a
// driver's first sweep at start. The pollers keep their own schedules; only
// what the site does with a sweep lives here.
import type { SiteConfig } from "../../config/schema.ts";
import type { SweepStats } from "../devices/poller.ts";
import type { PollDriver } from "../devices/pollers.ts";
import type { Logger } from "../runtime/logger.ts";
import { pollDuration, pollInFlight, pollLoopBusy } from "../runtime/metrics.ts";
import { Listeners } from "./listeners.ts";

export class SiteSweeps {
  private readonly listeners: Listeners<[PollDriver, SweepStats]>;

  constructor(
    private readonly config: SiteConfig,
    logger: Logger,
  ) {
    this.listeners = new Listeners(logger, "sweep");
  }

  /** Called after each sweep of a driver. Returns an unsubscribe. */
  on(fn: (driver: PollDriver, stats: SweepStats) => void): () => void {
    return this.listeners.add(fn);
  }

  /** A poller finished a sweep. */
  done(driver: PollDriver, stats: SweepStats): void {
    // a driver with nothing configured sweeps nothing: no series for it on /metrics
    const c = this.config;
    const configured =
      driver === "cgminer" ? c.miners.length : driver === "modbus" ? c.meters.length : c.gpuNodes.length;
    if (configured > 0) {
      pollDuration.observe({ driver }, stats.durationMs / 1000);
      pollInFlight.set({ driver }, stats.inFlightMax);
      pollLoopBusy.set({ driver }, stats.loopBusy);
    }
    this.listeners.emit(driver, stats);
  }

  /** Resolves at the next sweep of a driver, or after `timeoutMs`. */
  first(driver: PollDriver, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        off();
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      const off = this.on((d) => {
        if (d === driver) done();
      });
    });
  }
}
