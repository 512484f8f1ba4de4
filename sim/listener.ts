// Binding and closing one simulated device's listener, shared by the sim's
// servers: a clear error naming the device and address when the bind fails,
// the real port recorded when 0 was asked, and every open socket dropped on close.
import type { Server, Socket } from "node:net";
import { type Logger, pino } from "pino";

export interface Listening {
  id: string;
  host: string;
  port: number;
  server: Server | null;
  sockets: Set<Socket>;
}

/** The listener part of a new entry: not bound yet, no sockets. */
export function unbound(): Pick<Listening, "server" | "sockets"> {
  return { server: null, sockets: new Set() };
}

/** What every simulated firmware hands back: where its miners listen, and how to stop it. */
export interface SimHandle {
  readonly endpoints: ReadonlyArray<Endpoint>;
  stop(): Promise<void>;
}

/** Binds `server` to the entry's host:port; rejects with "`label` id cannot listen on host:port: CODE". */
export function bindListener(
  e: Listening,
  server: Server,
  { label, log, backlog }: { label: string; log: Logger; backlog?: number },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) =>
      reject(new Error(`${label} ${e.id} cannot listen on ${e.host}:${e.port}: ${err.code ?? err.message}`));
    server.once("error", onError);
    server.listen({ host: e.host, port: e.port, backlog }, () => {
      server.off("error", onError);
      server.on("error", (err) => log.warn({ miner: e.id, err }, "listener error"));
      const addr = server.address();
      if (addr && typeof addr === "object") e.port = addr.port;
      e.server = server;
      resolve();
    });
  });
}

/** Closes the listener (new connects are refused at once) and destroys its open sockets. */
export function closeListener(e: Listening): Promise<void> {
  const server = e.server;
  e.server = null;
  for (const s of e.sockets) s.destroy();
  e.sockets.clear();
  if (!server) return Promise.resolve();
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * The listeners of one simulated firmware, one per miner, and the timers of their delayed
 * effects (a reboot, a slow reply): bound together, stopped together. A timer still pending
 * when the group stops never fires.
 */
export class ListenerGroup<E extends Listening> {
  private stopped = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  readonly entries = new Map<string, E>();
  private readonly label: string;
  /** The sim's logger: a child of the one given (silent without), tagged with `component`. */
  readonly log: Logger;

  constructor(opts: { label: string; component: string; logger?: Logger }) {
    this.label = opts.label;
    this.log = (opts.logger ?? pino({ level: "silent" })).child({ component: opts.component });
  }

  /** Adds a miner's entry; a second entry with the same id is a configuration error. */
  add(e: E): void {
    if (this.entries.has(e.id)) throw new Error(`${this.label}: duplicate miner id "${e.id}"`);
    this.entries.set(e.id, e);
  }

  /** Runs `fn` after `ms`, unless the group has stopped by then. */
  later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) fn();
    }, ms);
    this.timers.add(t);
  }

  /** Runs `fn` now when `ms` ≤ 0 (no configured delay), else as `later`. */
  after(ms: number, fn: () => void): void {
    if (ms <= 0) fn();
    else this.later(ms, fn);
  }

  get(id: string): E {
    const e = this.entries.get(id);
    if (!e) throw new Error(`${this.label}: unknown miner "${id}"`);
    return e;
  }

  get endpoints(): Endpoint[] {
    return [...this.entries.values()].map((e) => ({ id: e.id, host: e.host, port: e.port }));
  }

  /** Binds every entry with `listen`; on the first failure closes what was bound and rethrows. */
  async bind(listen: (e: E) => Promise<void>): Promise<void> {
    const results = await Promise.allSettled([...this.entries.values()].map(listen));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) {
      await this.stop();
      throw failed.reason;
    }
    // a dialect the site has no miners of says nothing
    if (this.entries.size > 0) this.log.info({ miners: this.entries.size }, `${this.label} listening`);
  }

  /** The handle a sim returns: its own methods plus `endpoints` and `stop` from the group. */
  handle<X extends object>(
    methods: X,
  ): NoInfer<X> & { readonly endpoints: Endpoint[]; stop(): Promise<void> } {
    const out = { ...methods, stop: () => this.stop() };
    Object.defineProperty(out, "endpoints", { get: () => this.endpoints, enumerable: true });
    return out as X & { readonly endpoints: Endpoint[]; stop(): Promise<void> };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.all([...this.entries.values()].map(closeListener));
  }
}

type Endpoint = { id: string; host: string; port: number };

/**
 * The miners of one dialect, each with the port its listener takes on its host (0 = a free
 * one). Two miners sharing a host and port cannot both listen: the first gets it, the others
 * are logged and skipped.
 */
export function onePerHostPort<M extends { id: string; host: string; dialect?: string }>(
  miners: readonly M[],
  { dialect, portOf, log }: { dialect: string; portOf: (m: M) => number; log?: Logger },
): Array<{ m: M; port: number }> {
  const taken = new Set<string>();
  const out: Array<{ m: M; port: number }> = [];
  for (const m of miners) {
    if (m.dialect !== dialect) continue;
    const port = portOf(m);
    const key = `${m.host}:${port}`;
    if (port !== 0 && taken.has(key)) {
      log?.warn({ miner: m.id, at: key }, `${dialect} port already taken on this host; skipped`);
      continue;
    }
    taken.add(key);
    out.push({ m, port });
  }
  return out;
}
