// What the HTTP layer needs from the site: read views, the event stream, and
// the intents it may hand over (never a driver: docs/design.md, Rules between the parts).
// The Site provides it in start(); tests can provide their own.
import type { Actor, DeviceAction, DeviceActionName, IntentResult } from "../control/intents.ts";
import type { ControlMode } from "../control/loop.ts";
import type { DevicePoint } from "../devices/history.ts";
import type { MinerHealth } from "../devices/miner-health.ts";
import type { GatewayHealth } from "../runtime/host-health.ts";
import type { devicesView, ProblemMiner } from "../site/device-rows.ts";
import type { AuditEntry, NewAuditEntry } from "../store/audit.ts";
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

export type DevicesView = ReturnType<typeof devicesView>;
/** The devices lean: meters and GPU nodes as in DevicesView, the miners one at a time (one walk per call). */
export type LeanDevicesView = Pick<DevicesView, "meters" | "gpuNodes"> & { miners: Iterable<ProblemMiner> };

export type ProblemSeverity = "critical" | "warning";

/** One line of `GET /api/problems` (agent/site/problems.ts builds them). */
export interface Problem {
  kind:
    | "meter-stale"
    | "signal-stale"
    | "unreachable"
    | "faulted"
    | "gpu-node-faulted"
    | "hot"
    | "fan-failed"
    | "dead-board"
    | "low-hashrate"
    | "wrong-pool"
    | "firmware-changed"
    | "cannot-shed";
  severity: ProblemSeverity;
  /** The device or signal it is about. */
  id: string;
  location: string | null;
  /** ISO time the problem began, where known. */
  since: string | null;
  /** What is wrong, in the device's own words where it gave some. */
  message: string;
  /** One line: what to do next. */
  fix: string;
}

/** An action the detail page offers for a device, from its capabilities (and the model's range for a value). */
export interface OfferedAction {
  action: DeviceActionName;
  /** What the button says: "Reboot", "Set power limit". */
  label: string;
  /** The value it takes, where it needs one: watts within [min, max] where known. */
  value: { unit: "W"; min: number | null; max: number | null; current: number | null } | null;
}

/** One ledger row for the detail page: what was done, who asked (policy or operator), how it ended. */
export interface DeviceLedgerRow {
  at: number;
  action: string;
  valueW: number | null;
  gpuIndex: number | null;
  origin: "policy" | "operator";
  outcome: "pending" | "done" | "failed";
  reason: string;
  /** Why it ended as it did (the read-back, or the failure). */
  detail: string | null;
  finishedAt: number | null;
}

/** `GET /api/devices/<id>` (docs/design.md, HTTP): everything a technician needs at one device. */
export interface DeviceDetail {
  id: string;
  class: "mining" | "ai";
  location: string | null;
  host: string;
  port: number;
  /** Detected dialect (miners) and the configured one. */
  dialect: string | null;
  configuredDialect: string | null;
  firmware: { name: string; version: string | null; raw: string } | null;
  capabilities: string[];
  withdrawn: Array<{ capability: string; reason: string }>;
  /** The model catalogue's entry for the reported model, where known. */
  model: {
    name: string;
    reported: string | null;
    nominalW: number;
    nominalThs: number;
    powerLimitW: { min: number; max: number } | null;
    sleepW: number;
    wakeUpS: number;
    hotChipC: number | null;
    hotBoardC: number | null;
    origin: string;
  } | null;
  state: string | null;
  reason: string | null;
  exclusion: { by: string; at: number; reason: string | null; until: number | null } | null;
  /** The latest reading as /api/devices shows it (boards, fans, pools, uptime…). */
  reading: Record<string, unknown>;
  health: MinerHealth | null;
  problems: Problem[];
  actions: OfferedAction[];
  ledger: DeviceLedgerRow[];
  events: SiteEvent[];
  history: { everyS: number; points: DevicePoint[] };
}

export interface HttpSite {
  siteView(): SiteView;
  devicesView(): DevicesView;
  /**
   * The devices as the scrape and the problems list read them, the miners one at a time
   * (a fresh walk per call): at 5,000 miners the full rows cost megabytes per call.
   * Absent: devicesView().
   */
  leanDevicesView?(): LeanDevicesView;
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
  /** One device in full (`GET /api/devices/<id>`); null for an unknown id. Absent = not offered. */
  deviceDetail?(id: string): DeviceDetail | null;
  /** The audit entry an action was recorded under (by the request id the route gave as the actor's ref). */
  auditByRef?(ref: string): AuditEntry | null;
  /** Records a refusal at the HTTP boundary (bad login, CSRF, no session…). */
  audit(entry: NewAuditEntry): void;
}

export interface Operator {
  name: string;
  passwordHash: string;
}
