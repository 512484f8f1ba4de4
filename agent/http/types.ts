// What the HTTP layer needs from the site: read views, the event stream, and
// the intents it may hand over (never a driver: docs/design.md, Rules between the parts).
// The Site provides it in start(); tests can provide their own.
import type { Actor, DeviceAction, IntentResult } from "../control/intents.ts";
import type { ControlMode } from "../control/loop.ts";
import type { GatewayHealth } from "../gateway.ts";
import type { SiteState } from "../state.ts";
import type { NewAuditEntry } from "../store/audit.ts";
import type { SiteEvent } from "../store/events.ts";
import type { HistoryPoint } from "../store/history.ts";

/** `GET /api/site` (docs/design.md, Contracts); the fields the page and /metrics read are typed. */
export interface SiteView {
  siteId: string;
  powerW: number | null;
  budgetW: number | null;
  budgetReason: string;
  /** Seconds since the last site tick (null before the first). */
  tickAgeS?: number | null;
  /** The kind of source setting the budget: contract, lease, schedule, economic, signal, failsafe. */
  budgetSource?: string;
  /** The budget lease in force, if any. */
  lease?: { watts: number; expiresAt: string; reason: string } | null;
  /** The control plan's alarms in force (ai-capped, emergency, over-budget…). */
  alarms?: string[];
  mode: ControlMode | null;
  classes: Record<"ai" | "mining" | "aux", { powerW: number | null }>;
  counts: Record<string, number>;
  meter: { ok: boolean; ageS: number | null } | null;
  broker: { connected: boolean; outboxMessages: number } | null;
  gateway: GatewayHealth | null;
  /** Grid signals the site follows (as /api/site shows them). */
  signals?: Array<{ name: string; kind: string; state: string; since: string; reason: string | null }>;
  [more: string]: unknown;
}

export type DevicesView = ReturnType<SiteState["devicesView"]>;

export interface HttpSite {
  siteView(): SiteView;
  devicesView(): DevicesView;
  unhealthyReason(): string | null;
  /** When a device's open outage began (epoch ms), or null when it has none. */
  outageSince?(id: string): number | null;
  /** Newest first. */
  recentEvents(limit: number): SiteEvent[];
  /** Oldest first, after an id (SSE catch-up). */
  eventsAfter(id: number): SiteEvent[];
  onEvent(fn: (e: SiteEvent) => void): () => void;
  onTick(fn: () => void): () => void;
  history(minutes: number): HistoryPoint[];
  deviceAction(req: DeviceAction, actor: Actor): Promise<IntentResult>;
  setMode(mode: ControlMode, actor: Actor): IntentResult;
  /** Records a refusal at the HTTP boundary (bad login, CSRF, no session…). */
  audit(entry: NewAuditEntry): void;
}

export interface Operator {
  name: string;
  passwordHash: string;
}
