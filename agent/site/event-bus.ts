// The site's events: each is given to the event log first (it gets its id
// there, and is committed at the end of the turn), counted, then handed to the
// listeners (the page's SSE stream, the MQTT channel, the exports). Emitting
// never throws: an event that cannot be stored is logged and dropped (the log
// reports those it could not commit), so a full disk cannot stop the control path.
import type { Logger } from "../runtime/logger.ts";
import { eventsTotal } from "../runtime/metrics.ts";
import type { NewSiteEvent, SiteEvent } from "../store/events.ts";
import { Listeners } from "./listeners.ts";
import type { SiteStores } from "./stores.ts";

export class SiteEvents {
  private readonly listeners: Listeners<[SiteEvent]>;

  constructor(
    private readonly stores: SiteStores,
    private readonly logger: Logger,
  ) {
    this.listeners = new Listeners(logger, "event");
  }

  /** Stores an event and hands it to listeners; null when it could not be stored. */
  emit(e: NewSiteEvent): SiteEvent | null {
    let stored: SiteEvent;
    try {
      const log = this.stores.events;
      stored = log ? log.append(e) : { id: 0, deviceId: null, data: null, ...e };
    } catch (err) {
      this.logger.warn({ err, kind: e.kind }, "event not stored");
      return null;
    }
    eventsTotal.inc({ kind: e.kind, severity: e.severity });
    this.listeners.emit(stored);
    return stored;
  }

  /** Called for every stored event. Returns an unsubscribe. */
  on(fn: (e: SiteEvent) => void): () => void {
    return this.listeners.add(fn);
  }

  /** Newest first. */
  recent(limit = 100): SiteEvent[] {
    return this.stores.events?.recent(limit) ?? [];
  }

  /** Stored events after an id, oldest first (SSE catch-up). */
  after(id: number, limit = 1000): SiteEvent[] {
    return this.stores.events?.after(id, limit) ?? [];
  }

  forDevice(id: string, limit: number): SiteEvent[] {
    return this.stores.events?.forDevice(id, limit) ?? [];
  }
}
