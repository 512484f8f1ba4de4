// What an export (Sparkplug B, Home Assistant) may see of a site and what it
// may ask of it: views and ticks to publish, and the same intents the page and
// the MQTT commands use (never a driver), so a command from SCADA or Home
// Assistant goes through the control loop and the audit log like any other.
import type { SiteConfig } from "../../config/schema.ts";
import type { Actor, DeviceAction, IntentResult } from "../control/intents.ts";
import type { ControlMode } from "../control/loop.ts";
import type { BudgetLease, LeaseRequest } from "../control/types.ts";
import type { DevicesView, SiteView } from "../http/types.ts";
import type { Logger } from "../runtime/logger.ts";
import type { NewAuditEntry } from "../store/audit.ts";
import type { SiteEvent } from "../store/events.ts";

export interface ExportSite {
  readonly config: SiteConfig;
  siteView(): SiteView;
  devicesView(): DevicesView;
  /** Why the agent is unhealthy (what /healthz says); null when healthy. */
  unhealthyReason(): string | null;
  /** Called after every control tick (and at least every tickS). */
  onTick(fn: () => void): () => void;
  onEvent(fn: (e: SiteEvent) => void): () => void;
  setBudgetLease(lease: LeaseRequest, actor: Actor): BudgetLease;
  clearBudgetLease(actor: Actor): void;
  setMode(mode: ControlMode, actor: Actor): IntentResult;
  deviceAction(req: DeviceAction, actor: Actor): Promise<IntentResult>;
  /** Records a refusal at the export's boundary (a write with commands off, a malformed command). */
  audit(entry: NewAuditEntry): void;
}

export interface ExportOptions {
  logger: Logger;
  /** The agent's version, for births. */
  version: string;
}

/** A running export: stop() ends its broker session cleanly (its own death message, where it has one). */
export interface RunningExport {
  stop(): Promise<void>;
}
