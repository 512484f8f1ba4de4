// A stand-in for the site the HTTP server serves (its `HttpSite` port), for tests
// that need to control what the site says, its time or its health: an idle site
// with no devices, no events and no power, with `o` replacing what a test is about.
import type { HttpSite, SiteView } from "../../agent/http/server.ts";

/** The site summary of an idle stand-in; `o` changes fields. */
export function standInView(o: Partial<SiteView> = {}): SiteView {
  return {
    siteId: "stand-in",
    powerW: null,
    budgetW: null,
    budgetReason: "contract limit",
    mode: "auto",
    classes: { ai: { powerW: null }, mining: { powerW: null }, aux: { powerW: null } },
    counts: {},
    meter: null,
    broker: null,
    gateway: null,
    ...o,
  } satisfies SiteView;
}

export function standInSite(o: Partial<HttpSite> = {}, view: Partial<SiteView> = {}): HttpSite {
  return {
    siteView: () => standInView(view),
    devicesView: () => ({ miners: [], meters: [], gpuNodes: [] }),
    unhealthyReason: () => null,
    recentEvents: () => [],
    eventsAfter: () => [],
    onEvent: () => () => {},
    onTick: () => () => {},
    history: () => [],
    deviceAction: async () => ({ ok: false as const, error: "not here" }),
    setMode: () => ({ ok: true as const }),
    audit: () => {},
    ...o,
  };
}
