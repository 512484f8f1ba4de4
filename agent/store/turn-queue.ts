// Rows queued within one turn of the event loop and written together at its
// end (setImmediate), or sooner when a reader asks: a fleet-wide shed's
// outcomes cost one SQLite commit, not one per miner. Used by the ledger's
// finishes and the event log's rows.

export class TurnQueue<T> {
  private items: T[] = [];
  private at: NodeJS.Immediate | null = null;

  /** `write` gets every queued item, in order; it must not throw. */
  constructor(private readonly write: (items: T[]) => void) {}

  push(item: T): void {
    this.items.push(item);
    this.at ??= setImmediate(() => {
      this.at = null;
      this.flush();
    });
  }

  /** Writes what is queued now (nothing when empty). */
  flush(): void {
    if (this.at) {
      clearImmediate(this.at);
      this.at = null;
    }
    if (this.items.length === 0) return;
    const items = this.items;
    this.items = [];
    this.write(items);
  }
}
