// The site's clock: the control loop beats it after every tick, and once a
// period while a tick is still applying (ControlLoop `onBeat`). Each beat
// runs the site's duties in order (events for changes, exclusion and locate
// ends, problems, history, retention, host health), then hands the tick to
// its listeners (MQTT telemetry, the page's SSE, exports, the watchdog) and
// logs one summary line. A wake storm (a Modbus client writing many times a
// second) ticks the loop as often: the clock takes at most one beat per half
// period, so what is published and logged keeps its pace. The time of the last
// beat is the agent's heartbeat: health says "no tick" when it stops.
import type { SiteConfig } from "../../config/schema.ts";
import { formatHashrateThs, formatPowerW } from "../../config/units.ts";
import type { ControlLoop } from "../control/loop.ts";
import type { Logger } from "../runtime/logger.ts";
import { Listeners } from "./listeners.ts";
import type { SiteSnapshot } from "./state.ts";
import type { SiteTick } from "./tick.ts";

/** A miner write confirms by reading back within its own deadline (the loop's, and health's allowance). */
export const ACTION_TIMEOUT_MS = 45_000;

export interface ClockDeps {
  config: SiteConfig;
  logger: Logger;
  snapshot(): SiteSnapshot;
  loop(): ControlLoop | null;
  now?: () => number;
}

/** One duty of the beat; an error is logged with its name and the next duty still runs. */
type Duty = { name: string; run: (now: number, snap: SiteSnapshot) => void };

export class SiteClock {
  private readonly duties: Duty[] = [];
  private readonly listeners: Listeners<[SiteTick]>;
  private running = false;
  private lastBeatAt = 0;

  constructor(private readonly d: ClockDeps) {
    this.listeners = new Listeners(d.logger, "tick");
  }

  /** Adds a duty, run on every beat in the order added. */
  duty(name: string, run: (now: number, snap: SiteSnapshot) => void): void {
    this.duties.push({ name, run });
  }

  /** Called every beat with the snapshot, the budget and the mode. Returns an unsubscribe. */
  onTick(fn: (t: SiteTick) => void): () => void {
    return this.listeners.add(fn);
  }

  /** When the clock last beat (0 before the first). */
  get lastTickAt(): number {
    return this.lastBeatAt;
  }

  start(): void {
    this.running = true;
  }

  /** No beat does anything from here on (the loop may still beat while the site stops). */
  stop(): void {
    this.running = false;
  }

  beat(): void {
    if (!this.running) return;
    const now = this.d.now?.() ?? Date.now();
    if (now - this.lastBeatAt < this.d.config.control.tickS * 500) return;
    this.lastBeatAt = now;
    const snap = this.d.snapshot();
    const loop = this.d.loop();
    const control = loop?.last ?? null;
    for (const duty of this.duties) {
      try {
        duty.run(snap.at, snap);
      } catch (err) {
        this.d.logger.warn({ err, duty: duty.name }, `${duty.name} failed`);
      }
    }
    const budget = control?.budget ?? null;
    this.listeners.emit({ at: snap.at, snapshot: snap, budget, mode: loop?.mode ?? "auto", control });
    this.d.logger.info(
      {
        component: "tick",
        powerW: snap.powerW === null ? null : Math.round(snap.powerW),
        powerSource: snap.powerSource,
        budgetW: loop?.last?.budget?.budgetW ?? this.d.config.site.contractLimitW,
        meter: snap.meter,
        counts: snap.counts,
        hashrateThs: snap.hashrateThs,
      },
      summaryLine(snap, this.d.config.miners.length),
    );
  }

  /**
   * Why the agent is not healthy, or null: the heartbeat stopped (event loop
   * blocked), or the control loop neither ticks nor is busy applying — a shed
   * to slow miners may run for the action deadline × retries, that is alive.
   */
  unhealthyReason(now: number = Date.now()): string | null {
    const c = this.d.config.control;
    const stallMs = Math.max(3 * c.tickS * 1000, 10_000);
    const age = now - this.lastBeatAt;
    if (age > stallMs) return `no tick for ${Math.round(age / 1000)} s`;
    const p = this.d.loop()?.progress;
    if (!p) return null;
    const busyLimitMs = ACTION_TIMEOUT_MS * Math.max(1, c.retries) + stallMs;
    if (p.busySince !== null && now - p.busySince > busyLimitMs) {
      return `control tick running for ${Math.round((now - p.busySince) / 1000)} s`;
    }
    if (p.busySince === null && p.lastTickEndAt !== null && now - p.lastTickEndAt > stallMs) {
      return `no control tick for ${Math.round((now - p.lastTickEndAt) / 1000)} s`;
    }
    return null;
  }
}

function summaryLine(snap: SiteSnapshot, minerCount: number): string {
  const power =
    snap.powerW === null ? "site power unknown" : `site ${formatPowerW(snap.powerW)} (${snap.powerSource})`;
  const meter = snap.meter
    ? snap.meter.ok
      ? `meter ok ${snap.meter.ageS}s`
      : snap.meter.ageS === null
        ? "meter NO READING yet"
        : `meter STALE ${snap.meter.ageS}s`
    : "no site meter";
  const c = snap.counts;
  return `${power} · ${meter} · miners ${c.hashing}/${minerCount} hashing, ${c.sleeping} sleeping, ${c.starting} starting, ${c.faulted} faulted, ${c.unreachable} unreachable · ${formatHashrateThs(snap.hashrateThs)}`;
}
