// The site's ports for the HTTP server and the exports (Sparkplug B, Home
// Assistant): the read views, the event stream and the intents each may hand
// over, adapted from the site's parts. Neither channel sees a driver, the
// loop or a store handle (docs/design.md, Rules between the parts). The MQTT
// channel's port (mqtt/types.ts) is met by the Site itself.
import type { SiteConfig } from "../../config/schema.ts";
import type { OutageWatch } from "../devices/outages.ts";
import type { ExportSite } from "../exports/types.ts";
import type { HttpSite } from "../http/types.ts";
import type { SiteAudit } from "./audit.ts";
import type { SiteClock } from "./clock.ts";
import type { SiteEvents } from "./event-bus.ts";
import type { SiteIntents } from "./intents.ts";
import type { SiteStores } from "./stores.ts";
import type { SiteViews } from "./views.ts";

export interface PortParts {
  config: SiteConfig;
  views: SiteViews;
  events: SiteEvents;
  audit: SiteAudit;
  intents: SiteIntents;
  clock: SiteClock;
  stores: SiteStores;
  outages: OutageWatch;
}

export function httpPort(p: PortParts): HttpSite {
  return {
    siteView: () => p.views.site(),
    devicesView: () => p.views.devices(),
    leanDevicesView: () => p.views.problemDevices(),
    unhealthyReason: () => p.clock.unhealthyReason(),
    outageSince: (id) => p.outages.sinceOf(id),
    recentEvents: (limit) => p.events.recent(limit),
    eventsAfter: (id) => p.events.after(id),
    onEvent: (fn) => p.events.on(fn),
    onTick: (fn) => p.clock.onTick(fn),
    history: (minutes) => p.stores.history?.read(minutes) ?? [],
    deviceAction: (req, actor) => p.intents.deviceAction(req, actor),
    setMode: (mode, actor) => p.intents.setMode(mode, actor),
    deviceDetail: (id) => p.views.deviceDetail(id),
    auditByRef: (ref) => p.audit.byRef(ref),
    audit: (entry) => p.audit.append(entry),
  };
}

export function exportPort(p: PortParts): ExportSite {
  return {
    config: p.config,
    siteView: () => p.views.site(),
    devicesView: () => p.views.devices(),
    unhealthyReason: () => p.clock.unhealthyReason(),
    onTick: (fn) => p.clock.onTick(() => fn()),
    onEvent: (fn) => p.events.on(fn),
    setBudgetLease: (lease, actor) => p.intents.setBudgetLease(lease, actor),
    clearBudgetLease: (actor) => p.intents.clearBudgetLease(actor),
    setMode: (mode, actor) => p.intents.setMode(mode, actor),
    deviceAction: (req, actor) => p.intents.deviceAction(req, actor),
    audit: (entry) => p.audit.append(entry),
  };
}
