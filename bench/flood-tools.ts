// The pieces of an HTTP flood against the agent, shared by `npm run flood`
// (bench/flood.ts), its worker processes and the short integration test:
// half-open connections that trickle a header line every few seconds and are
// reopened when the agent closes them; live-update streams that reconnect like
// a browser's EventSource; refused POSTs at a fixed rate; and a new client
// loading the status page the way the browser does, timed (bench/flood-client.ts).
import { Agent as HttpAgent, request } from "node:http";
import { connect, type Socket } from "node:net";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `count` loopback source addresses from `base` upwards (127.a.b.c, c from 1 to 250). */
export function sourceAddresses(base: string, count: number): string[] {
  const [a, b, c] = base.split(".").map(Number) as [number, number, number];
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(`${a}.${b}.${c + Math.floor(i / 250)}.${(i % 250) + 1}`);
  return out;
}

// ---------------------------------------------------------------- half-open connections

export interface HalfOpenOptions {
  host: string;
  port: number;
  connections: number;
  sources: string[];
  /** A header line every this often on each open connection (the reported attack: 5 s). */
  trickleMs: number;
  /** A closed connection is reopened after this (± 50 %). */
  reopenMs: number;
  /** Connections opened per second while ramping up. */
  rampPerS: number;
}

export interface HalfOpenStats {
  /** Connections the flood tries to hold. */
  target: number;
  /** TCP connections established so far. */
  connected: number;
  /** Open now, from the flood's side. */
  open: number;
  maxOpen: number;
  /** Closed by the agent with nothing sent (a cap), or after a 408 (a deadline). */
  closedAtOnce: number;
  closedWith408: number;
  connectErrors: number;
}

/** Stats with nothing counted yet; also the start of a sum over several floods. */
export function emptyHalfOpenStats(target = 0): HalfOpenStats {
  return { target, connected: 0, open: 0, maxOpen: 0, closedAtOnce: 0, closedWith408: 0, connectErrors: 0 };
}

export class HalfOpenFlood {
  private readonly sockets: Array<Socket | null>;
  private readonly s: HalfOpenStats;
  private stopped = false;
  private trickle: NodeJS.Timeout | null = null;
  private phase = 0;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly o: HalfOpenOptions) {
    this.sockets = new Array(o.connections).fill(null);
    this.s = emptyHalfOpenStats(o.connections);
  }

  get stats(): HalfOpenStats {
    return { ...this.s };
  }

  async start(): Promise<void> {
    // one timer writes to a tenth of the sockets each tenth of the period
    const slices = 10;
    this.trickle = setInterval(() => {
      this.phase = (this.phase + 1) % slices;
      for (let i = this.phase; i < this.sockets.length; i += slices) {
        const s = this.sockets[i];
        if (s && !s.destroyed && s.writable) s.write(`x-trickle-${i}: ${Date.now()}\r\n`);
      }
    }, this.o.trickleMs / slices);
    const batch = Math.max(1, Math.round(this.o.rampPerS / 20));
    for (let i = 0; i < this.o.connections && !this.stopped; i += batch) {
      for (let j = i; j < Math.min(i + batch, this.o.connections); j++) this.open(j);
      await sleep(50);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.trickle) clearInterval(this.trickle);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const s of this.sockets) s?.destroy();
    await sleep(100);
  }

  private open(i: number): void {
    if (this.stopped) return;
    const localAddress = this.o.sources[i % this.o.sources.length];
    const s = connect({ host: this.o.host, port: this.o.port, localAddress });
    this.sockets[i] = s;
    let connected = false;
    let received = "";
    s.setNoDelay(true);
    s.on("connect", () => {
      connected = true;
      this.s.connected++;
      this.s.open++;
      this.s.maxOpen = Math.max(this.s.maxOpen, this.s.open);
      s.write("GET / HTTP/1.1\r\nhost: flood\r\n");
    });
    s.on("data", (d: Buffer) => {
      if (received.length < 64) received += d.toString("latin1");
    });
    s.on("error", () => {
      if (!connected) this.s.connectErrors++;
    });
    s.on("close", () => {
      if (connected) {
        this.s.open--;
        if (received.startsWith("HTTP/1.1 408")) this.s.closedWith408++;
        else this.s.closedAtOnce++;
      }
      if (this.sockets[i] === s) this.sockets[i] = null;
      if (this.stopped) return;
      const t = setTimeout(
        () => {
          this.timers.delete(t);
          this.open(i);
        },
        this.o.reopenMs * (0.5 + Math.random()),
      );
      this.timers.add(t);
    });
  }
}

// ---------------------------------------------------------------- live-update streams

export interface SseFloodStats {
  streams: number;
  open: number;
  opened: number;
  closedByAgent: number;
  refused: number;
}

/** Streams that reconnect `reconnectMs` after the agent closes them, as EventSource does. */
export class SseFlood {
  private readonly s: SseFloodStats;
  private stopped = false;
  private readonly reqs = new Set<ReturnType<typeof request>>();
  private readonly timers = new Set<NodeJS.Timeout>();

  private readonly base: string;
  private readonly streams: number;
  private readonly sources: string[];
  private readonly reconnectMs: number;

  constructor(o: { base: string; streams: number; sources: string[]; reconnectMs?: number }) {
    this.base = o.base;
    this.streams = o.streams;
    this.sources = o.sources;
    this.reconnectMs = o.reconnectMs ?? 3000;
    this.s = { streams: o.streams, open: 0, opened: 0, closedByAgent: 0, refused: 0 };
  }

  get stats(): SseFloodStats {
    return { ...this.s };
  }

  start(): void {
    for (let i = 0; i < this.streams; i++) this.open(i);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    for (const r of this.reqs) r.destroy();
  }

  private open(i: number): void {
    if (this.stopped) return;
    const again = () => {
      if (this.stopped) return;
      const t = setTimeout(() => {
        this.timers.delete(t);
        this.open(i);
      }, this.reconnectMs);
      this.timers.add(t);
    };
    const req = request(
      new URL("/api/stream", this.base),
      { localAddress: this.sources[i % this.sources.length], agent: false },
      (res) => {
        if (res.statusCode !== 200) {
          this.s.refused++;
          res.resume();
          res.on("end", again);
          return;
        }
        this.s.opened++;
        this.s.open++;
        res.resume();
        res.on("close", () => {
          this.s.open--;
          if (!this.stopped) this.s.closedByAgent++;
          this.reqs.delete(req);
          again();
        });
      },
    );
    this.reqs.add(req);
    req.on("error", () => {
      this.reqs.delete(req);
    });
    req.end();
  }
}

// ---------------------------------------------------------------- refused POSTs

export interface RefusedPostStats {
  sent: number;
  byStatus: Record<string, number>;
}

/**
 * POSTs that the operator boundary refuses, at a fixed rate: actions without a
 * session, wrong passwords, cross-site logins, forged session cookies.
 */
export class RefusedPosts {
  private readonly s: RefusedPostStats = { sent: 0, byStatus: {} };
  private timer: NodeJS.Timeout | null = null;
  private readonly agents: HttpAgent[];
  private n = 0;

  constructor(
    private readonly base: string,
    private readonly ratePerS: number,
    sources: string[],
  ) {
    this.agents = sources.map((a) => new HttpAgent({ keepAlive: true, maxSockets: 4, localAddress: a }));
  }

  get stats(): RefusedPostStats {
    return { sent: this.s.sent, byStatus: { ...this.s.byStatus } };
  }

  start(): void {
    // a batch every 50 ms keeps the rate even
    const perTick = this.ratePerS / 20;
    let owed = 0;
    this.timer = setInterval(() => {
      owed += perTick;
      while (owed >= 1) {
        owed--;
        this.fire();
      }
    }, 50);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    for (const a of this.agents) a.destroy();
  }

  private fire(): void {
    const i = this.n++;
    const kind = i % 4;
    const origin = this.base;
    const [path, body, headers] =
      kind === 0
        ? ["/api/actions", { kind: "mode", mode: "hold" }, { origin }]
        : kind === 1
          ? ["/api/login", { name: "tech", password: `guess-${i}` }, { origin }]
          : kind === 2
            ? ["/api/login", { name: "tech", password: "x" }, { origin: "http://evil.example" }]
            : ["/api/actions", { kind: "mode", mode: "hold" }, { origin, cookie: `wk_session=forged${i}` }];
    const payload = JSON.stringify(body);
    this.s.sent++;
    const req = request(
      new URL(path, this.base),
      {
        method: "POST",
        agent: this.agents[i % this.agents.length],
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(payload),
          ...headers,
        },
        timeout: 10_000,
      },
      (res) => {
        this.count(String(res.statusCode));
        res.resume();
      },
    );
    req.on("timeout", () => req.destroy());
    req.on("error", () => this.count("error"));
    req.end(payload);
  }

  private count(k: string): void {
    this.s.byStatus[k] = (this.s.byStatus[k] ?? 0) + 1;
  }
}
