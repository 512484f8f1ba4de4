// Assembles the site's parts from the config, each handed only what it reads:
// the stores, the event bus, the audit, the intents, grid signals and prices,
// the views, the clock with its duties in order, and the watches that outlive
// a reload. What exists only while the site runs (pollers, the loop, the
// locate ends, host health, the broker's status) the parts read through
// `Running`, which the Site fills in start() and empties in stop().
import type { SiteConfig } from "../../config/schema.ts";
import type { Miner } from "../../drivers/cgminer/miner.ts";
import type { ControlLoop } from "../control/loop.ts";
import { TickTimes } from "../control/tick-times.ts";
import { DeviceHistory } from "../devices/history.ts";
import type { LocateEnds } from "../devices/locate-ends.ts";
import { OutageWatch } from "../devices/outages.ts";
import type { DevicePollers } from "../devices/pollers.ts";
import { Sessions } from "../http/sessions.ts";
import type { GatewayMonitor } from "../runtime/host-health.ts";
import type { Logger } from "../runtime/logger.ts";
import type { NewSiteEvent } from "../store/events.ts";
import { SiteAudit } from "./audit.ts";
import { SiteClock } from "./clock.ts";
import { SiteEvents } from "./event-bus.ts";
import { ChangeWatch } from "./events.ts";
import { SiteIntents } from "./intents.ts";
import type { PortParts } from "./ports.ts";
import { SitePrices } from "./prices.ts";
import { ProblemWatch } from "./problem-events.ts";
import { Retention } from "./retention.ts";
import { SiteSignals } from "./signals.ts";
import type { SiteState } from "./state.ts";
import { SiteStores } from "./stores.ts";
import { SiteSweeps } from "./sweeps.ts";
import type { BrokerStatus } from "./tick.ts";
import { SiteViews } from "./views.ts";
import { SiteWatches } from "./watches.ts";

/** Before the devices start: no miners, one map (the plan view keeps drivers per map). */
const NO_MINERS: ReadonlyMap<string, Miner> = new Map();

/** What exists only while the site runs; null while it is stopped. */
export interface Running {
  devices: DevicePollers | null;
  loop: ControlLoop | null;
  /** Ends the locates the firmware would leave blinking (kept in the settings store). */
  locates: LocateEnds | null;
  gateway: GatewayMonitor | null;
  /** The MQTT link's status, set by the channel. */
  broker: (() => BrokerStatus) | null;
}

/** The watches and sessions a reload hands to the next site (with its readings). */
export interface Handed {
  sessions: Sessions;
  outages: OutageWatch;
  problems: ProblemWatch;
  changes: ChangeWatch;
  deviceHistory: DeviceHistory;
}

export interface SiteParts extends PortParts {
  handed: Handed;
  /** Energy price and hashprice for the economic cut: fixed in the config, or taken as they arrive. */
  prices: SitePrices;
  /** Grid signals the site follows (signals section), each a budget source. */
  signals: SiteSignals;
  watches: SiteWatches;
  sweeps: SiteSweeps;
  tickTimes: TickTimes;
}

export interface AssembleOptions {
  config: SiteConfig;
  logger: Logger;
  state: SiteState;
  run: Running;
  handoff: Partial<Handed> | null;
  version: string | null;
  startedAt: number;
  deviceHistoryEveryMs?: number;
}

export function assemble(o: AssembleOptions): SiteParts {
  const { config, logger, state, run } = o;
  const h = o.handoff;
  const handed: Handed = {
    sessions: h?.sessions ?? new Sessions(),
    outages: h?.outages ?? new OutageWatch(),
    problems: h?.problems ?? new ProblemWatch(),
    changes: h?.changes ?? new ChangeWatch(),
    deviceHistory: h?.deviceHistory ?? new DeviceHistory(o.deviceHistoryEveryMs),
  };
  handed.deviceHistory.keepOnly(new Set([...config.miners, ...config.gpuNodes].map((d) => d.id)));
  const loop = () => run.loop;
  const stores = new SiteStores(config, logger);
  const events = new SiteEvents(stores, logger);
  const audit = new SiteAudit(stores, logger);
  const emit = (e: NewSiteEvent) => events.emit(e);
  const wake = () => run.loop?.wakeNow();
  const intents = new SiteIntents({ config, state, stores, events, audit, loop, locates: () => run.locates });
  const clock = new SiteClock({ config, logger, snapshot: () => views.snapshot(), loop });
  const signals = new SiteSignals({
    config,
    logger,
    readSite: () => views.readback(),
    emit,
    wake,
    audit: (e) => audit.appendQuietly(e),
  });
  const tickTimes = new TickTimes(1000);
  const views: SiteViews = new SiteViews({
    config,
    state,
    stores,
    events,
    version: o.version,
    startedAt: o.startedAt,
    tickTimes,
    outages: handed.outages,
    deviceHistory: handed.deviceHistory,
    loop,
    miners: () => run.devices?.miners ?? NO_MINERS,
    lease: () => intents.budgetLease,
    signals: () => signals.statuses(),
    broker: () => run.broker?.() ?? null,
    gateway: () => run.gateway?.latest() ?? null,
    lastTickAt: () => clock.lastTickAt,
    unhealthyReason: (now) => clock.unhealthyReason(now),
  });
  const watches = new SiteWatches({ ...handed, config, state, stores, events, views, logger, loop });
  const retention = new Retention(stores, logger, emit);
  // the beat's duties, in order: what changed, what ended, what is wrong, what to keep
  clock.duty("budget and alarm events", () => watches.budgetAndAlarms());
  clock.duty("exclusion ends", (now) => watches.exclusionEnds(now));
  clock.duty("problem events", (now) => watches.problems(now));
  clock.duty("device history", (now) => watches.deviceSamples(now));
  clock.duty("site history", (now, snap) => watches.history(now, snap));
  clock.duty("locate ends", (now) => run.locates?.sweep(now));
  clock.duty("store retention", (now) => retention.beat(now));
  clock.duty("gateway health", (now) => run.gateway?.beat(now));
  return {
    config,
    handed,
    stores,
    events,
    audit,
    intents,
    views,
    clock,
    watches,
    outages: handed.outages,
    prices: new SitePrices(config.control.economics, emit, wake),
    signals,
    sweeps: new SiteSweeps(config, logger),
    tickTimes,
  };
}
