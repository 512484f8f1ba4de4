// Commands before polls: while the control loop still has miner commands of a
// tick to put on the wire, the miner poller starts no new read. At 20,000
// miners polled every 5 s the sweeps went on through a fleet-wide shed, and
// the shed's last sleep landed 36 s after the trigger against 24 s with no
// polls (29 s now). The shed's read-backs bring the readings of the miners it
// touched (agent/site/read-back.ts); the meters are polled on their own,
// never held.

/** The longest a poll waits for commands to go out: a stream of commands must not blind the site. */
export const MAX_POLL_HOLD_MS = 10_000;

export class CommandFirst {
  private sending = 0;
  private waiters: Array<() => void> = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly maxHoldMs: number = MAX_POLL_HOLD_MS) {}

  /** A batch of commands starts going out; call what it returns once they all are (again: no effect). */
  begin(): () => void {
    this.sending++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      if (--this.sending === 0) this.releaseAll();
    };
  }

  /** Whether commands are still going out. */
  get busy(): boolean {
    return this.sending > 0;
  }

  /**
   * Null while no command is waiting to go out (read now); else resolves once none is, at
   * the latest maxHoldMs after the first poll began to wait, or when `signal` aborts.
   */
  turn(signal?: AbortSignal): Promise<void> | null {
    if (this.sending === 0 || signal?.aborted) return null;
    if (this.timer === null) this.timer = setTimeout(() => this.releaseAll(), this.maxHoldMs);
    return new Promise((resolve) => {
      const go = () => {
        signal?.removeEventListener("abort", leave);
        resolve();
      };
      // a stopped poller stops waiting; the last one to leave takes the timer with it
      const leave = () => {
        this.waiters = this.waiters.filter((w) => w !== go);
        if (this.waiters.length === 0 && this.timer !== null) {
          clearTimeout(this.timer);
          this.timer = null;
        }
        resolve();
      };
      signal?.addEventListener("abort", leave, { once: true });
      this.waiters.push(go);
    });
  }

  private releaseAll(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    for (const go of this.waiters.splice(0)) go();
  }
}
