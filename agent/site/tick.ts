// What a site hands its channels each tick, and the broker status the MQTT
// channel hands back: plain types, so channels need not import the Site.
import type { ControlMode, TickResult } from "../control/loop.ts";
import type { Budget } from "../control/types.ts";
import type { SiteSnapshot } from "./state.ts";

/** What tick listeners (MQTT telemetry, SSE, exports, the watchdog) get on each beat of the site's clock. */
export interface SiteTick {
  at: number;
  snapshot: SiteSnapshot;
  budget: Budget | null;
  mode: ControlMode;
  /** The control loop's latest tick, whenever it ran. */
  control: TickResult | null;
}

/** The broker link as the page and /api/site show it (set by the MQTT link). */
export interface BrokerStatus {
  connected: boolean;
  outboxMessages: number;
  [more: string]: unknown;
}
