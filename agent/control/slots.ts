// A counting semaphore: at most `size` holders at once, the rest wait in
// arrival order (so the plan's order — worst miner first — is the order
// commands go out). The loop holds one slot per command until it is on the
// wire, and another, larger set per action until it is confirmed.
export class Slots {
  private free: number;
  private readonly size: number;
  private readonly waiting: Array<() => void> = [];
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
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
    if (this.isIdle()) for (const idle of this.idlers.splice(0)) idle();
  }

  private isIdle(): boolean {
    return this.waiting.length === 0 && this.free === this.size;
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
