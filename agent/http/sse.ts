// Server-Sent Events for the status page: each tick's site summary
// (`event: site`) and every stored site event (`event: event`, with its id).
// A reconnecting browser sends Last-Event-ID and first gets the events it
// missed. A comment line every heartbeat keeps proxies and NAT from closing an
// idle stream. The number of streams is bounded: a gateway serves a few
// technicians, not a crowd.
import type { IncomingMessage, ServerResponse } from "node:http";

export const SSE_HEARTBEAT_MS = 15_000;
export const MAX_SSE_CLIENTS = 32;
/** The browser waits this long before reconnecting a dropped stream. */
const RETRY_MS = 3000;

export interface SseOptions {
  maxClients?: number;
  heartbeatMs?: number;
  /** Stored events after an id, oldest first (the catch-up). */
  eventsAfter: (id: number) => Array<{ id: number }>;
}

export class SseHub {
  private readonly clients = new Set<ServerResponse>();
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(private readonly opts: SseOptions) {}

  get size(): number {
    return this.clients.size;
  }

  /** Takes over the response; false (nothing written) when the hub is full. */
  open(req: IncomingMessage, res: ServerResponse): boolean {
    if (this.clients.size >= (this.opts.maxClients ?? MAX_SSE_CLIENTS)) return false;
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
    res.on("close", () => this.clients.delete(res));
    const last = Number(req.headers["last-event-id"]);
    if (Number.isInteger(last) && last >= 0) {
      for (const e of this.opts.eventsAfter(last)) res.write(frame("event", e, e.id));
    }
    this.ensureHeartbeat();
    return true;
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
  }

  private broadcast(text: string): void {
    for (const res of this.clients) {
      // a client that cannot keep up (its socket buffer over 1 MiB) is dropped, not buffered for
      if (res.writableLength > 1 << 20) {
        res.destroy();
        this.clients.delete(res);
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
