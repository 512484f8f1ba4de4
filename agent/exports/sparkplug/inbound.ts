// The Sparkplug node's inbound commands (NCMD/DCMD): decoded, read into the
// site's intents (commands.ts) and applied, or refused and audited, with the
// refusal log throttled. Apart from export.ts (the session, births and data):
// what SCADA asks is judged here, in one place.
import type { Actor } from "../../control/intents.ts";
import type { Logger } from "../../runtime/logger.ts";
import type { ExportSite } from "../types.ts";
import { decode, type UPayload } from "./codec.ts";
import { readCommand, type SparkplugIntent, type Target } from "./commands.ts";
import type { Aliases, DeviceKind } from "./metrics.ts";

/** A refusal is logged at most this often (each is audited; the audit log aggregates them). */
const REFUSAL_LOG_EVERY_MS = 60_000;

export interface SparkplugCommandsOptions {
  site: ExportSite;
  acceptCommands: boolean;
  logger: Logger;
  actor: Actor;
  aliases: Aliases;
  devices: ReadonlyMap<string, DeviceKind>;
  /** The last device action's outcome per device (a DDATA metric). */
  lastActions: Map<string, string>;
  /** Republishes the births (Node Control/Rebirth). */
  births: () => void;
  /** Publishes NDATA/DDATA now (after a device action). */
  publishData: () => void;
}

export class SparkplugCommands {
  private refusalLoggedAt = 0;
  private refusalsHeld = 0;

  constructor(private readonly o: SparkplugCommandsOptions) {}

  async onCommand(target: Target, topic: string, payload: Buffer): Promise<void> {
    let decoded: UPayload;
    try {
      decoded = decode(payload);
    } catch (err) {
      this.refuse(target, topic, {
        code: "invalid",
        metric: "payload",
        error: `not a Sparkplug B payload: ${(err as Error).message}`,
      });
      return;
    }
    const { intents, refusals } = readCommand(target, decoded.metrics ?? [], {
      acceptCommands: this.o.acceptCommands,
      aliases: this.o.aliases,
      devices: this.o.devices,
      actor: this.o.actor,
    });
    for (const r of refusals) this.refuse(target, topic, r);
    for (const intent of intents) await this.apply(intent);
  }

  private async apply(intent: SparkplugIntent): Promise<void> {
    const a = this.o.actor;
    try {
      switch (intent.kind) {
        case "rebirth":
          this.o.logger.info("Sparkplug rebirth requested");
          this.o.births();
          return;
        case "mode":
          this.o.site.setMode(intent.mode, a);
          return;
        case "lease":
          this.o.site.setBudgetLease({ watts: intent.watts, ttlS: intent.ttlS, reason: intent.reason }, a);
          return;
        case "lease-clear":
          this.o.site.clearBudgetLease(a);
          return;
        case "device": {
          const r = await this.o.site.deviceAction(intent.req, a);
          this.o.lastActions.set(
            intent.req.id,
            `${intent.req.action}: ${r.ok ? "done" : `failed: ${r.error}`}`,
          );
          this.o.publishData();
          return;
        }
      }
    } catch (err) {
      this.o.logger.warn({ err, intent: intent.kind }, "Sparkplug command failed");
    }
  }

  private refuse(target: Target, topic: string, r: { code: string; metric: string; error: string }): void {
    try {
      this.o.site.audit({
        at: Date.now(),
        via: "sparkplug",
        who: this.o.actor.who,
        action: target.kind === "NCMD" ? "sparkplug/ncmd" : "sparkplug/dcmd",
        body: { metric: r.metric, ...(target.kind === "DCMD" ? { deviceId: target.deviceId } : {}) },
        ok: false,
        error: r.error,
        source: topic,
        reason: r.code,
      });
    } catch (err) {
      this.o.logger.warn({ err }, "audit write failed");
    }
    const now = Date.now();
    if (now - this.refusalLoggedAt >= REFUSAL_LOG_EVERY_MS) {
      this.o.logger.warn(
        { topic, metric: r.metric, code: r.code, alsoRefused: this.refusalsHeld },
        `Sparkplug command refused: ${r.error}`,
      );
      this.refusalLoggedAt = now;
      this.refusalsHeld = 0;
    } else this.refusalsHeld++;
  }
}
