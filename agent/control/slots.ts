// A counting semaphore: at most `size` holders at once, the rest wait in
// arrival order (so the plan's order — worst miner first — is the order
// commands go out). The loop holds one slot per command until it is on the
// wire, and another, larger set per action until it is confirmed.
export class Slots {
  private free: number;
  private readonly size: number;
  /** Waiters from `head` on; taken by index, since `shift()` on an array of 20,000 is a copy each time. */
  private waiting: Array<() => void> = [];
  private head = 0;
  private readonly idlers: Array<() => void> = [];

  constructor(size: number) {
    this.size = Math.max(1, size);
    this.free = this.size;
  }

  acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.take();
    if (next) next();
    else this.free++;
    if (this.isIdle()) for (const idle of this.idlers.splice(0)) idle();
  }

  /** Slots held now. */
  get inUse(): number {
    return this.size - this.free;
  }

  /** Waiters not yet given a slot. */
  get queued(): number {
    return this.waiting.length - this.head;
  }

  private take(): (() => void) | undefined {
    if (this.head === this.waiting.length) return undefined;
    const next = this.waiting[this.head++];
    // drop the taken part once it is most of the array: each waiter is copied at most once more
    if (this.head === this.waiting.length) {
      this.waiting = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.waiting.length) {
      this.waiting = this.waiting.slice(this.head);
      this.head = 0;
    }
    return next;
  }

  private isIdle(): boolean {
    return this.queued === 0 && this.free === this.size;
  }

  /**
   * Resolves once no slot is held and nobody waits for one (at once when so),
   * or after `maxWaitMs` at the latest: one slow holder must not hold everyone.
   */
  idle(maxWaitMs: number): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, maxWaitMs);
      this.idlers.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
