// A set of listeners the site fans out to (ticks, events, sweeps): one that
// throws is logged and the others still hear it, so a broken subscriber (a
// channel, an export) never stops the site's clock.
import type { Logger } from "../runtime/logger.ts";

export class Listeners<A extends unknown[]> {
  private readonly fns = new Set<(...args: A) => void>();

  constructor(
    private readonly logger: Logger,
    /** What they listen to, for the log line ("tick", "event", "sweep"). */
    private readonly what: string,
  ) {}

  /** Adds one; returns its unsubscribe. */
  add(fn: (...args: A) => void): () => void {
    this.fns.add(fn);
    return () => {
      this.fns.delete(fn);
    };
  }

  emit(...args: A): void {
    for (const fn of this.fns) {
      try {
        fn(...args);
      } catch (err) {
        this.logger.warn({ err }, `${this.what} listener threw`);
      }
    }
  }
}
