// Server-Sent Events for the status page: each tick's site summary
// (`event: site`) and every stored site event (`event: event`, with its id).
// A reconnecting browser sends Last-Event-ID and first gets the events it
// missed. A comment line every heartbeat keeps proxies and NAT from closing an
// idle stream. Streams are bounded per client address and in total, so that
// no one host can take every place: a new stream over an address's cap closes
// that address's oldest; at the total cap, the address holding the most
// streams gives up its oldest to an address holding fewer (only when nobody
// holds more than the newcomer's address is the newcomer refused).
import type { IncomingMessage, ServerResponse } from "node:http";
import { httpSseClosed } from "../runtime/metrics.ts";
import { addressKey } from "./address.ts";

const SSE_HEARTBEAT_MS = 15_000;
const MAX_SSE_CLIENTS = 32;
const MAX_SSE_CLIENTS_PER_ADDRESS = 4;
/** The browser waits this long before reconnecting a dropped stream. */
const RETRY_MS = 3000;

export interface SseOptions {
  maxClients?: number;
  maxClientsPerAddress?: number;
  heartbeatMs?: number;
  /** Stored events after an id, oldest first (the catch-up). */
  eventsAfter: (id: number) => Array<{ id: number }>;
}

export class SseHub {
  private readonly clients = new Set<ServerResponse>();
  /** Streams by address key, oldest first. */
  private readonly byKey = new Map<string, Set<ServerResponse>>();
  private heartbeat: NodeJS.Timeout | null = null;
  readonly counts = { perAddress: 0, total: 0, slow: 0 };

  constructor(private readonly opts: SseOptions) {}

  get size(): number {
    return this.clients.size;
  }

  /** Takes over the response; false (nothing written) when the hub is full. */
  open(req: IncomingMessage, res: ServerResponse): boolean {
    const key = addressKey(req.socket.remoteAddress) ?? "unknown";
    const mine = this.byKey.get(key);
    const perAddress = this.opts.maxClientsPerAddress ?? MAX_SSE_CLIENTS_PER_ADDRESS;
    if (mine && mine.size >= perAddress) {
      // the same host opening another stream (a reloaded tab, a script): its oldest gives way
      this.close(mine.values().next().value!, "per-address");
    } else if (this.clients.size >= (this.opts.maxClients ?? MAX_SSE_CLIENTS)) {
      const victim = this.victimFor(mine?.size ?? 0);
      if (!victim) return false;
      this.close(victim, "total");
    }
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    res.write(`retry: ${RETRY_MS}\n\n`);
    req.socket.setNoDelay(true);
    req.socket.setTimeout(0);
    this.clients.add(res);
    let set = this.byKey.get(key);
    if (!set) {
      set = new Set();
      this.byKey.set(key, set);
    }
    set.add(res);
    res.on("close", () => this.forget(res, key));
    const last = Number(req.headers["last-event-id"]);
    if (Number.isInteger(last) && last >= 0) {
      for (const e of this.opts.eventsAfter(last)) res.write(frame("event", e, e.id));
    }
    this.ensureHeartbeat();
    return true;
  }

  /** Streams held by one address (by its key). */
  heldBy(addr: string): number {
    return this.byKey.get(addressKey(addr) ?? "unknown")?.size ?? 0;
  }

  /** A stored site event, with its id (resumable). */
  event(e: { id: number }): void {
    this.broadcast(frame("event", e, e.id));
  }

  /** A message that needs no catch-up (the tick summary). */
  send(name: string, data: unknown): void {
    if (this.clients.size > 0) this.broadcast(frame(name, data, null));
  }

  closeAll(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    for (const res of this.clients) res.end();
    this.clients.clear();
    this.byKey.clear();
  }

  /** The oldest stream of the address holding the most, if it holds more than `mine` + 1. */
  private victimFor(mine: number): ServerResponse | null {
    let heaviest: Set<ServerResponse> | null = null;
    for (const set of this.byKey.values()) if (!heaviest || set.size > heaviest.size) heaviest = set;
    if (!heaviest || heaviest.size <= mine + 1) return null;
    return heaviest.values().next().value ?? null;
  }

  private close(res: ServerResponse, reason: "per-address" | "total" | "slow"): void {
    if (reason === "per-address") this.counts.perAddress++;
    else if (reason === "total") this.counts.total++;
    else this.counts.slow++;
    httpSseClosed.inc({ reason });
    this.clients.delete(res);
    for (const [k, set] of this.byKey) {
      if (set.delete(res) && set.size === 0) this.byKey.delete(k);
    }
    // a closed stream ends cleanly; the browser reconnects after `retry` if it still wants one
    if (reason === "slow") res.destroy();
    else res.end();
  }

  private forget(res: ServerResponse, key: string): void {
    this.clients.delete(res);
    const set = this.byKey.get(key);
    set?.delete(res);
    if (set && set.size === 0) this.byKey.delete(key);
  }

  private broadcast(text: string): void {
    for (const res of this.clients) {
      // a client that cannot keep up (its socket buffer over 1 MiB) is dropped, not buffered for
      if (res.writableLength > 1 << 20) {
        this.close(res, "slow");
        continue;
      }
      res.write(text);
    }
  }

  private ensureHeartbeat(): void {
    if (this.heartbeat) return;
    this.heartbeat = setInterval(() => {
      if (this.clients.size === 0) return;
      this.broadcast(`: heartbeat ${Date.now()}\n\n`);
    }, this.opts.heartbeatMs ?? SSE_HEARTBEAT_MS);
    this.heartbeat.unref();
  }
}

function frame(name: string, data: unknown, id: number | null): string {
  // JSON has no raw newlines, so one `data:` line carries it whole
  return `${id !== null ? `id: ${id}\n` : ""}event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}
