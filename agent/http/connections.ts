// Connection caps for the HTTP endpoint, applied the moment a TCP connection
// is accepted, before any byte is parsed: at most `maxPerAddress` per client
// address (addressKey) and `maxTotal` in all. A connection over a cap is
// closed at once and counted. At the total cap a newcomer is not simply
// turned away: if some address holds clearly more connections than the
// newcomer's (more than one more), that address's oldest idle connection (a
// half-open one, or a kept-alive one between requests) is closed to make
// room, so many flooding addresses cannot lock a new client out of the page.
// A sweep closes connections whose response has stopped draining (a client
// that asks and never reads would otherwise pin the response in memory).
import type { Socket } from "node:net";
import { httpConnectionsRefused } from "../runtime/metrics.ts";
import { addressKey } from "./address.ts";

export interface ConnectionLimits {
  maxTotal: number;
  maxPerAddress: number;
  /** A response that has not drained a byte for this long is closed. */
  stallMs?: number;
}

interface Tracked {
  key: string;
  /** Requests in progress on it (0: half-open, or idle between keep-alive requests). */
  busy: number;
  /** For the stall sweep: bytes written at the last progress, and when. */
  written: number;
  progressAt: number;
}

const DEFAULT_STALL_MS = 20_000;
const SWEEP_EVERY_MS = 5000;

export class ConnectionGuard {
  private readonly byKey = new Map<string, Set<Socket>>();
  private readonly sockets = new Map<Socket, Tracked>();
  private sweepTimer: NodeJS.Timeout | null = null;
  readonly counts = { refusedTotal: 0, refusedPerAddress: 0, evicted: 0, stalled: 0 };

  constructor(readonly limits: ConnectionLimits) {}

  get size(): number {
    return this.sockets.size;
  }

  /** Connections held by one address (by its key). */
  heldBy(addr: string): number {
    const key = addressKey(addr);
    return key === null ? 0 : (this.byKey.get(key)?.size ?? 0);
  }

  start(): void {
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_EVERY_MS);
    this.sweepTimer.unref();
  }

  stop(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
  }

  /** A just-accepted socket: true to serve it, false when it was closed by a cap. */
  admit(socket: Socket, now: number = Date.now()): boolean {
    const key = addressKey(socket.remoteAddress);
    if (key === null) {
      // already gone (reset before we saw it): nothing to serve
      socket.destroy();
      return false;
    }
    const mine = this.byKey.get(key)?.size ?? 0;
    if (mine >= this.limits.maxPerAddress) {
      this.counts.refusedPerAddress++;
      httpConnectionsRefused.inc({ reason: "per-address" });
      socket.destroy();
      return false;
    }
    if (this.sockets.size >= this.limits.maxTotal) {
      const victim = this.victimFor(mine);
      if (!victim) {
        this.counts.refusedTotal++;
        httpConnectionsRefused.inc({ reason: "total" });
        socket.destroy();
        return false;
      }
      this.counts.evicted++;
      httpConnectionsRefused.inc({ reason: "evicted" });
      this.drop(victim);
    }
    let set = this.byKey.get(key);
    if (!set) {
      set = new Set();
      this.byKey.set(key, set);
    }
    set.add(socket);
    this.sockets.set(socket, { key, busy: 0, written: 0, progressAt: now });
    socket.once("close", () => this.forget(socket));
    return true;
  }

  /** A request began on the socket (it is no longer a candidate for eviction). */
  requestStarted(socket: Socket): void {
    const t = this.sockets.get(socket);
    if (t) t.busy++;
  }

  requestEnded(socket: Socket): void {
    const t = this.sockets.get(socket);
    if (t && t.busy > 0) t.busy--;
  }

  /** Closes responses that stopped draining; every few seconds, and by tests. */
  sweep(now: number = Date.now()): void {
    const stallMs = this.limits.stallMs ?? DEFAULT_STALL_MS;
    for (const [socket, t] of this.sockets) {
      const written = socket.bytesWritten;
      if (socket.writableLength === 0 || written !== t.written) {
        t.written = written;
        t.progressAt = now;
        continue;
      }
      if (now - t.progressAt > stallMs) {
        this.counts.stalled++;
        httpConnectionsRefused.inc({ reason: "stalled" });
        this.drop(socket);
      }
    }
  }

  /** The connection to close so that an address holding `mine` may have one more, or null. */
  private victimFor(mine: number): Socket | null {
    let heaviest: Set<Socket> | null = null;
    for (const set of this.byKey.values()) {
      if (!heaviest || set.size > heaviest.size) heaviest = set;
    }
    if (!heaviest || heaviest.size <= mine + 1) return null;
    // the oldest idle one (sets keep arrival order); if every one is busy, the oldest
    for (const s of heaviest) if ((this.sockets.get(s)?.busy ?? 0) === 0) return s;
    return heaviest.values().next().value ?? null;
  }

  private drop(socket: Socket): void {
    this.forget(socket);
    socket.destroy();
  }

  private forget(socket: Socket): void {
    const t = this.sockets.get(socket);
    if (!t) return;
    this.sockets.delete(socket);
    const set = this.byKey.get(t.key);
    set?.delete(socket);
    if (set && set.size === 0) this.byKey.delete(t.key);
  }
}
