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
  /** The wait for idle that every idle() caller shares until it ends (one timer, not one each). */
  private idleWait: { promise: Promise<void>; resolve: () => void; timer: NodeJS.Timeout } | null = null;

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
    if (this.isIdle()) this.endIdleWait();
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
   * Callers while a wait is under way share it, and with it the limit of the
   * first of them: in a 20,000-miner shed each parked action held a timer of
   * its own before. A later caller may so be let go early, never late.
   */
  idle(maxWaitMs: number): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    if (this.idleWait) return this.idleWait.promise;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => {
      resolve = r;
    });
    this.idleWait = { promise, resolve, timer: setTimeout(() => this.endIdleWait(), maxWaitMs) };
    return promise;
  }

  private endIdleWait(): void {
    const wait = this.idleWait;
    if (!wait) return;
    this.idleWait = null;
    clearTimeout(wait.timer);
    wait.resolve();
  }
}
