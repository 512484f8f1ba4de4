// The site's SQLite handles, opened and closed together: the curtailment
// ledger, the operator settings, the event log, the audit log and the power
// history, all in the one state file (config `store.path`). Each is null
// while the site is stopped, so a caller sees "not running", never a closed
// handle.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { SiteConfig } from "../../config/schema.ts";
import { longestWakeUpMs } from "../devices/models.ts";
import type { Logger } from "../runtime/logger.ts";
import { AuditLog } from "../store/audit.ts";
import { EventLog } from "../store/events.ts";
import { History } from "../store/history.ts";
import { Ledger } from "../store/ledger.ts";
import { Settings } from "../store/settings.ts";

export class SiteStores {
  ledger: Ledger | null = null;
  settings: Settings | null = null;
  events: EventLog | null = null;
  audit: AuditLog | null = null;
  /** Site power, budget and class split per 10 s, for the status page chart. */
  history: History | null = null;

  constructor(
    private readonly config: SiteConfig,
    private readonly logger: Logger,
  ) {}

  get path(): string {
    return this.config.store.path;
  }

  open(): void {
    const path = this.config.store.path;
    mkdirSync(dirname(path), { recursive: true });
    const c = this.config.control;
    const ledger = new Ledger(path, {
      // a wake's record stays while its miner may still be ramping (its model's wake-up time)
      restoreHistoryMs: Math.max(60_000, c.restoreStaggerS * 1000, longestWakeUpMs(this.config)),
      // the rows stay pending meanwhile: the policy still counts them, a restart recovers them
      onFlushError: (err) => this.logger.error({ err }, "ledger finish failed"),
    });
    const settings = new Settings(path);
    const events = new EventLog(path, {
      // handed to the listeners already: the page and the broker have them, the file does not
      onDropped: (err, count) => this.logger.warn({ err, count }, "events not stored"),
    });
    const audit = new AuditLog(path);
    const history = new History(path);
    // each is kept as soon as it is open: a failure part way still closes the ones before it
    history.open();
    this.history = history;
    ledger.open();
    this.ledger = ledger;
    settings.open();
    this.settings = settings;
    events.open();
    this.events = events;
    audit.open();
    this.audit = audit;
  }

  close(): void {
    this.ledger?.close();
    this.ledger = null;
    this.settings?.close();
    this.settings = null;
    this.events?.close();
    this.events = null;
    this.audit?.close();
    this.audit = null;
    this.history?.close();
    this.history = null;
  }

  /** Whether a device is out of automatic control now (false while stopped). */
  isExcluded(id: string, now: number = Date.now()): boolean {
    return this.settings?.isExcluded(id, now) ?? false;
  }
}
