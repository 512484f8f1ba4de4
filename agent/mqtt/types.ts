// The MQTT channel's port onto a site: what it reads and the intents it may
// hand over, and nothing else (a bench or a test brings its own). The channel
// never imports the Site; the Site satisfies this interface.
import type { SiteConfig } from "../../config/schema.ts";
import type { Actor, DeviceAction, IntentResult } from "../control/intents.ts";
import type { ControlMode } from "../control/loop.ts";
import type { PriceField } from "../control/prices.ts";
import type { BudgetLease, LeaseRequest } from "../control/types.ts";
import type { SweepStats } from "../devices/poller.ts";
import type { PollDriver } from "../devices/pollers.ts";
import type { PriceOffer } from "../site/prices.ts";
import type { SiteSnapshot, SiteState } from "../site/state.ts";
import type { BrokerStatus, SiteTick } from "../site/tick.ts";
import type { AuditLog } from "../store/audit.ts";
import type { SiteEvent } from "../store/events.ts";

export interface ChannelSite {
  readonly config: SiteConfig;
  /** The device readings the chunked device telemetry is built from. */
  readonly state: Pick<SiteState, "miners" | "gpuNodes" | "meterStatus">;
  onTick(fn: (t: SiteTick) => void): () => void;
  onSweep(fn: (driver: PollDriver, stats: SweepStats) => void): () => void;
  onEvent(fn: (e: SiteEvent) => void): () => void;
  setBrokerStatus(fn: (() => BrokerStatus) | null): void;
  snapshot(): SiteSnapshot;
  readonly budgetLease: BudgetLease | null;
  readonly mode: ControlMode;
  curtailment(now?: number): {
    curtailed: Array<{ id: string; how: "sleep" | "power-limit"; since: string }>;
    aiCaps: Array<{ id: string; gpu: number; originalW: number; since: string }>;
  };
  /** Where the channel records what it refused at its boundary (null while the site is stopped). */
  readonly audit: Pick<AuditLog, "append"> | null;
  /** A price message (already past the envelope check); returns the refusal's words, or null when taken. */
  offerPrice(field: PriceField, offer: PriceOffer): string | null;
  refusePrice(field: PriceField, refusal: { code: string; error: string }, source: string): void;
  /** Topics of grid signals carried on this broker. */
  readonly signalTopics: string[];
  signalMessage(topic: string, payload: Buffer): void;
  setBudgetLease(lease: LeaseRequest, actor?: Actor): BudgetLease;
  clearBudgetLease(actor?: Actor): void;
  setMode(mode: ControlMode, actor?: Actor): IntentResult;
  deviceAction(req: DeviceAction, actor: Actor): Promise<IntentResult>;
}
