// What the site notices on its clock and turns into events, once per change
// rather than once per beat: the budget or an alarm changing, an exclusion
// reaching its end, a problem raised or cleared, a device's outage beginning
// or ending (from the pollers). Also the samples behind the page's charts:
// site power per beat into the history store, each device's power and
// hashrate into its sparkline. The watches themselves outlive a reload
// (SiteHandoff), so a reload is not news.
import type { SiteConfig } from "../../config/schema.ts";
import type { ControlLoop } from "../control/loop.ts";
import type { DeviceHistory } from "../devices/history.ts";
import type { DeviceProblem, OutageWatch } from "../devices/outages.ts";
import type { Logger } from "../runtime/logger.ts";
import type { Settings } from "../store/settings.ts";
import type { SiteEvents } from "./event-bus.ts";
import type { ChangeWatch } from "./events.ts";
import type { ProblemWatch } from "./problem-events.ts";
import { listProblems } from "./problems.ts";
import type { SiteSnapshot, SiteState } from "./state.ts";
import type { SiteStores } from "./stores.ts";
import type { SiteViews } from "./views.ts";

/** How often the problems list is checked for the events that raise and clear them. */
const PROBLEM_CHECK_MS = 5000;

export interface WatchDeps {
  config: SiteConfig;
  state: SiteState;
  stores: SiteStores;
  events: SiteEvents;
  views: SiteViews;
  logger: Logger;
  loop(): ControlLoop | null;
  changes: ChangeWatch;
  outages: OutageWatch;
  problems: ProblemWatch;
  deviceHistory: DeviceHistory;
}

export class SiteWatches {
  private problemsCheckedAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly d: WatchDeps) {}

  /** One event when the budget (value or reason) or an alarm changes, not one per tick. */
  budgetAndAlarms(): void {
    for (const e of this.d.changes.note(this.d.loop()?.last ?? null, Date.now())) this.d.events.emit(e);
  }

  /** Exclusions whose end has come: each device back in automatic control, with an event. */
  exclusionEnds(now: number): void {
    let ended: ReturnType<Settings["expire"]>;
    try {
      ended = this.d.stores.settings?.expire(now) ?? [];
    } catch (err) {
      this.d.logger.warn({ err }, "exclusion ends not checked");
      return;
    }
    for (const e of ended) {
      this.d.events.emit({
        at: now,
        kind: "device-included",
        severity: "info",
        deviceId: e.deviceId,
        message: `${e.deviceId} back in automatic control: the exclusion by ${e.by}${e.reason ? ` (${e.reason})` : ""} ended at ${new Date(e.until!).toISOString()}`,
        data: { by: e.by, ended: true, until: e.until },
      });
    }
    if (ended.length > 0) this.d.loop()?.wakeNow();
  }

  /** Problems raised and cleared as events, checked every PROBLEM_CHECK_MS. */
  problems(now: number): void {
    if (now - this.problemsCheckedAt < PROBLEM_CHECK_MS) return;
    this.problemsCheckedAt = now;
    try {
      const problems = listProblems({
        site: this.d.views.site(),
        devices: this.d.views.problemDevices(),
        outageSince: (id) => this.d.outages.sinceOf(id),
        now,
      });
      for (const e of this.d.problems.note(problems, now)) this.d.events.emit(e);
    } catch (err) {
      this.d.logger.warn({ err }, "problems not checked");
    }
  }

  /** A sample of every device's power and hashrate, once per DeviceHistory period. */
  deviceSamples(now: number): void {
    const h = this.d.deviceHistory;
    if (!h.due(now)) return;
    const samples: Array<{ id: string; powerW: number | null; hashrateThs: number | null }> = [];
    for (const [id, e] of this.d.state.miners) {
      const r = e.reading;
      if (r) samples.push({ id, powerW: r.powerW, hashrateThs: r.hashrateThs });
    }
    for (const [id, r] of this.d.state.gpuNodes) {
      if (r) samples.push({ id, powerW: r.powerW ?? null, hashrateThs: null });
    }
    h.record(now, samples);
  }

  /** Site power, budget and class split into the history store (the page's chart). */
  history(now: number, snap: SiteSnapshot): void {
    try {
      this.d.stores.history?.record(now, {
        powerW: snap.powerW,
        budgetW: this.d.loop()?.last?.budget?.budgetW ?? this.d.config.site.contractLimitW,
        aiW: snap.classes.ai.powerW,
        miningW: snap.classes.mining.powerW,
        auxW: snap.classes.aux.powerW,
      });
    } catch (err) {
      this.d.logger.warn({ err }, "history not recorded");
    }
  }

  /** Logs and events a device's outage when it begins, when its kind changes, and when it ends. */
  deviceProblem(id: string, problem: DeviceProblem | null): void {
    const change = this.d.outages.note(id, problem, Date.now());
    if (!change) return;
    const log = this.d.logger.child({ device: id });
    if (change.kind === "recovered") log.info(change.event.data ?? {}, change.event.message);
    else log.warn({ code: problem?.code, reason: problem?.message }, "device degraded");
    this.d.events.emit(change.event);
  }
}
