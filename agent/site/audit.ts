// The site's side of the audit log: every intent (lease, mode, device action)
// with who asked, through which door, and how it ended, counted as a command;
// and the refusals the doors themselves record (a bad login, a bad signature).
// An intent's audit write that fails is logged, never thrown: the action has
// already happened and its result must still reach whoever asked.
import type { Actor, IntentResult } from "../control/intents.ts";
import type { Logger } from "../runtime/logger.ts";
import { commandsTotal } from "../runtime/metrics.ts";
import type { AuditEntry, AuditLog, NewAuditEntry } from "../store/audit.ts";
import type { SiteStores } from "./stores.ts";

export class SiteAudit {
  constructor(
    private readonly stores: SiteStores,
    private readonly logger: Logger,
  ) {}

  /** The log itself while the site runs (the MQTT channel records at its boundary). */
  get log(): AuditLog | null {
    return this.stores.audit;
  }

  /** Records an intent's outcome and returns it unchanged. */
  intent(actor: Actor, { action, body }: { action: string; body: unknown }, r: IntentResult): IntentResult {
    commandsTotal.inc({ name: action, result: r.ok ? "ok" : "failed" });
    try {
      this.stores.audit?.append({
        at: Date.now(),
        via: actor.via,
        who: actor.who,
        action,
        body,
        ok: r.ok,
        error: r.ok ? null : r.error,
        ref: actor.ref ?? null,
      });
    } catch (err) {
      this.logger.error({ err, action }, "audit write failed");
    }
    return r;
  }

  /** A refusal recorded at a door (HTTP, an export); a failed write throws to the door. */
  append(entry: NewAuditEntry): void {
    this.stores.audit?.append(entry);
  }

  /** What a grid signal's writer did (a setpoint, a refused write); a failed write is logged. */
  appendQuietly(entry: NewAuditEntry): void {
    try {
      this.stores.audit?.append(entry);
    } catch (err) {
      this.logger.warn({ err }, "audit write failed");
    }
  }

  /** The entry an action was recorded under, by the request id given as the actor's ref. */
  byRef(ref: string): AuditEntry | null {
    return this.stores.audit?.byRef(ref) ?? null;
  }
}
