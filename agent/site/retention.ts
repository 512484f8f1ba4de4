// How long the site keeps what it stores, and the watch on the state file's
// size, both on the site's clock: the ledger's actions and the events for 30
// days (events also bounded in count), the audit log for a year; pruned at
// the first beat and hourly after, the file's size checked every 30 s.
import type { Logger } from "../runtime/logger.ts";
import type { NewSiteEvent } from "../store/events.ts";
import { StoreSizeWatch } from "../store/size.ts";
import type { SiteStores } from "./stores.ts";

const DAY_MS = 86_400_000;
const KEEP_ACTIONS_MS = 30 * DAY_MS;
export const KEEP_EVENTS_MS = 30 * DAY_MS;
const KEEP_EVENTS_MAX = 200_000;
const KEEP_AUDIT_MS = 365 * DAY_MS;
const PRUNE_EVERY_MS = 3_600_000;
const SIZE_EVERY_MS = 30_000;

export class Retention {
  private prunedAt = Number.NEGATIVE_INFINITY;
  private sizedAt = Number.NEGATIVE_INFINITY;
  private readonly size: StoreSizeWatch;

  constructor(
    private readonly stores: SiteStores,
    private readonly logger: Logger,
    emit: (e: NewSiteEvent) => void,
  ) {
    this.size = new StoreSizeWatch({ path: stores.path, emit });
  }

  /** A duty of the site's clock: prunes and measures when each is due. */
  beat(now: number): void {
    if (now - this.prunedAt >= PRUNE_EVERY_MS) {
      this.prunedAt = now;
      this.prune(now);
    }
    if (now - this.sizedAt >= SIZE_EVERY_MS) {
      this.sizedAt = now;
      this.size.check(now);
    }
  }

  prune(now: number = Date.now()): void {
    try {
      const actions = this.stores.ledger?.prune(now - KEEP_ACTIONS_MS) ?? 0;
      const events = this.stores.events?.prune(now - KEEP_EVENTS_MS, KEEP_EVENTS_MAX) ?? 0;
      const audit = this.stores.audit?.prune(now - KEEP_AUDIT_MS) ?? 0;
      if (actions + events + audit > 0) this.logger.info({ actions, events, audit }, "store pruned");
    } catch (err) {
      this.logger.warn({ err }, "store prune failed");
    }
  }
}
