// A counting semaphore: at most `size` holders at once, the rest wait in
// arrival order (so the plan's order — worst miner first — is the order
// commands go out). The loop holds one slot per command until it is on the
// wire, and another, larger set per action until it is confirmed.
export class Slots {
  private free: number;
  private readonly waiting: Array<() => void> = [];
  private readonly idlers: Array<() => void> = [];

  constructor(size: number) {
    this.free = Math.max(1, size);
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
    if (this.waiting.length === 0) for (const idle of this.idlers.splice(0)) idle();
  }

  /** Resolves once nobody is waiting for a slot (at once when nobody is). */
  idle(): Promise<void> {
    if (this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idlers.push(resolve));
  }
}
