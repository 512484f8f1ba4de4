// One TCP listener per simulated miner that follows the power model's faults:
// closed at once when the miner faults (so a connect right after setFaulted()
// is already refused) and reopened when it recovers. Changes are queued per
// miner, so a fault toggled while a reopen is still binding ends up right.
// Shared by the CGMiner-API sim (4028) and the Whatsminer API v3 sim (4433).
import type { Logger } from "pino";
import { closeListener, type Listening, type SimHandle } from "./listener.ts";
import type { MinerState, PowerModel } from "./power-model.ts";

export interface FollowingEntry extends Listening {
  /** Serialises listener close/reopen when faults toggle quickly. */
  ops: Promise<void>;
}

/** What both sims hand back beyond SimHandle. */
export interface FaultFollowing extends SimHandle {
  /** Whether a miner's listener is open (false while faulted). */
  isListening(id: string): boolean;
  /** Resolves once listeners closed/reopened by fault changes have settled. */
  settled(): Promise<void>;
}

export class FaultFollowingListeners<E extends FollowingEntry> implements FaultFollowing {
  readonly entries = new Map<string, E>();
  private readonly inflight = new Set<Promise<void>>();
  private stopped = false;
  private unsubscribe: () => void = () => {};

  constructor(
    private readonly opts: {
      label: string;
      model: PowerModel;
      log: Logger;
      listen: (e: E) => Promise<void>;
      /** Runs at stop, before the listeners close (cancel the sim's own timers). */
      onStop?: () => void;
    },
  ) {}

  /** Adds a miner; a second entry with the same id is a configuration error. */
  add(e: Omit<E, "server" | "sockets" | "ops">): void {
    if (this.entries.has(e.id)) throw new Error(`${this.opts.label}: duplicate miner id "${e.id}"`);
    this.entries.set(e.id, { ...e, server: null, sockets: new Set(), ops: Promise.resolve() } as E);
  }

  /** Follows the model from now on and binds every miner not faulted; on a failure stops and rethrows. */
  async start(): Promise<void> {
    const { model } = this.opts;
    this.unsubscribe = model.onStateChange((id, state, prev) => this.onState(id, state, prev));
    const results = await Promise.allSettled(
      [...this.entries.values()].filter((e) => model.state(e.id) !== "faulted").map(this.opts.listen),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) {
      await this.stop();
      throw failed.reason;
    }
    this.opts.log.info({ miners: this.entries.size }, `${this.opts.label} listening`);
  }

  get(id: string): E {
    const e = this.entries.get(id);
    if (!e) throw new Error(`${this.opts.label}: no miner "${id}"`);
    return e;
  }

  get endpoints(): Array<{ id: string; host: string; port: number }> {
    return [...this.entries.values()].map((e) => ({ id: e.id, host: e.host, port: e.port }));
  }

  // arrow properties: the sims hand this object out, and callers may pass its methods around
  readonly isListening = (id: string): boolean => this.entries.get(id)?.server?.listening === true;

  readonly settled = async (): Promise<void> => {
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
  };

  readonly stop = async (): Promise<void> => {
    if (this.stopped) return;
    this.stopped = true;
    this.unsubscribe();
    this.opts.onStop?.();
    await Promise.all([...this.inflight]);
    await Promise.all([...this.entries.values()].map(closeListener));
  };

  private onState(id: string, state: MinerState, prev: MinerState): void {
    const e = this.entries.get(id);
    if (!e || this.stopped || (state !== "faulted" && prev !== "faulted")) return;
    // close at once so a connect right after setFaulted() is already refused
    if (state === "faulted" && e.server) void closeListener(e);
    const p = e.ops
      .then(() => this.reconcile(e))
      .catch((err) => this.opts.log.warn({ miner: id, err }, "listener change failed"));
    e.ops = p;
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  /** Makes a listener match the model: open unless faulted (or stopped). */
  private async reconcile(e: E): Promise<void> {
    const want = !this.stopped && this.opts.model.state(e.id) !== "faulted";
    if (want && !e.server) await this.opts.listen(e);
    else if (!want && e.server) await closeListener(e);
  }
}
