// Channels on one SSH connection: a counting semaphore whose waiters can give up
// (their deadline passed) or be failed all at once (the connection was lost).
import { abortReason } from "../abort.ts";

/** A counting semaphore whose waiters can give up (deadline) or be failed (connection lost). */
export class Slots {
  private free: number;
  private readonly waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  constructor(readonly size: number) {
    this.free = size;
  }
  get inUse(): number {
    return this.size - this.free;
  }
  acquire(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(abortReason(signal));
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const w = {
        resolve: () => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        },
        reject: (e: Error) => {
          signal.removeEventListener("abort", onAbort);
          reject(e);
        },
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(abortReason(signal));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(w);
    });
  }
  release(): void {
    const next = this.waiters.shift();
    if (next) next.resolve();
    else this.free = Math.min(this.size, this.free + 1);
  }
  failAll(err: Error): void {
    for (const w of this.waiters.splice(0)) w.reject(err);
  }
}
