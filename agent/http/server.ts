// The local HTTP endpoint for field technicians and scripts (node:http, no
// framework): the status page and its files, the JSON API, live updates over
// SSE, operator actions behind a login, /metrics and /healthz. Every response
// is built from the latest snapshot, so HTTP never waits on a device; only an
// operator's action waits, for its read-back confirmation. No client may
// take it all: connections are capped per address and in total (closed at
// once over a cap), headers and bodies must arrive within their timeouts
// (checked every second), kept-alive connections are bounded in idle time and
// requests, and live-update streams are capped per address and in total.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { HttpLimits } from "../../config/schema/site.ts";
import type { FdPlan } from "../runtime/fd-budget.ts";
import type { Logger } from "../runtime/logger.ts";
import { readHandlers } from "./api.ts";
import { ConnectionGuard } from "./connections.ts";
import { LoginGuard, type LoginGuardOptions } from "./login-limiter.ts";
import { OperatorRoutes } from "./operator.ts";
import { SiteMetrics } from "./prometheus.ts";
import { HttpError, sendBody, sendError } from "./respond.ts";
import { type Handler, Router, routeTable } from "./routes.ts";
import { Sessions } from "./sessions.ts";
import { SseHub } from "./sse.ts";
import { loadStaticFiles, type StaticFile } from "./static.ts";
import type { HttpSite, Operator } from "./types.ts";

export type { HttpSite, Operator, SiteView } from "./types.ts";

export interface HttpServerOptions {
  host: string;
  port: number;
  site: HttpSite;
  operators?: readonly Operator[];
  logger: Logger;
  /** Operator sessions; the site hands in its own so they outlive a reload. */
  sessions?: Sessions;
  /** Connection, timeout and stream limits (config `http.limits`; the site lowers maxConnections to its fd budget). */
  limits?: Partial<HttpLimits>;
  /** Tests shorten these. */
  limiter?: LoginGuardOptions;
  sse?: { maxClients?: number; maxClientsPerAddress?: number; heartbeatMs?: number };
  /** The file-descriptor budget the site planned (for /metrics). */
  fd?: FdPlan;
  /** How often Node checks header and request timeouts (ms). */
  checkIntervalMs?: number;
  /** Serve HTTPS with this certificate and key (PEM); absent or null = plain HTTP. */
  tls?: { cert: string; key: string } | null;
}

/** The config's defaults (config/schema/site.ts), for servers built without a config (tests). */
const DEFAULT_HTTP_LIMITS: HttpLimits = {
  maxConnections: 1024,
  maxConnectionsPerAddress: 32,
  headersTimeoutS: 10,
  requestTimeoutS: 30,
  keepAliveTimeoutS: 5,
  maxRequestsPerSocket: 1000,
  maxSseStreams: 32,
  maxSseStreamsPerAddress: 4,
};
/** Node checks header and request deadlines on this period (its default, 30 s, let half-open connections pile up). */
const CHECK_INTERVAL_MS = 1000;
/**
 * Connections the kernel may queue for accept (somaxconn caps it; 4096 on
 * current Debian): a burst of a flood waits there, holding no descriptor,
 * rather than overflowing the queue and making a new client retransmit.
 */
const LISTEN_BACKLOG = 4096;

/** Headers every response carries: the page is self-contained and never framed. */
const SECURITY_HEADERS: Record<string, string> = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "same-origin",
};
const PAGE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export class HttpServer {
  private readonly opts: HttpServerOptions;
  private server: Server | null = null;
  private readonly sse: SseHub;
  private readonly router: Router;
  private files = new Map<string, StaticFile>();
  private unsubscribe: Array<() => void> = [];
  readonly limits: HttpLimits;
  readonly connections: ConnectionGuard;

  constructor(opts: HttpServerOptions) {
    this.opts = opts;
    const { site } = opts;
    const limits = { ...DEFAULT_HTTP_LIMITS, ...opts.limits };
    this.limits = limits;
    this.connections = new ConnectionGuard({
      maxTotal: limits.maxConnections,
      maxPerAddress: limits.maxConnectionsPerAddress,
    });
    this.sse = new SseHub({
      maxClients: limits.maxSseStreams,
      maxClientsPerAddress: limits.maxSseStreamsPerAddress,
      ...opts.sse,
      eventsAfter: (id) => site.eventsAfter(id),
    });
    const metrics = new SiteMetrics(site, () => ({
      sseClients: this.sse.size,
      connections: this.connections.size,
      connectionLimit: limits.maxConnections,
      connectionLimitPerAddress: limits.maxConnectionsPerAddress,
      fdLimit: opts.fd?.limit ?? null,
      fdReserved: opts.fd?.reserved ?? null,
    }));
    const operator = new OperatorRoutes({
      site,
      operators: opts.operators ?? [],
      sessions: opts.sessions ?? new Sessions(),
      limiter: new LoginGuard(opts.limiter),
      secureCookies: !!opts.tls,
    });
    const stream: Handler = (req, res) => {
      if (req.method === "HEAD") {
        res.writeHead(200, {
          "content-type": "text/event-stream; charset=utf-8",
          "cache-control": "no-store",
        });
        res.end();
        return;
      }
      if (!this.sse.open(req, res)) {
        throw new HttpError(503, "too many live clients", { "retry-after": "30" });
      }
    };
    this.router = new Router(routeTable({ read: readHandlers({ site, metrics }), operator, stream }));
  }

  async start(): Promise<void> {
    try {
      this.files = loadStaticFiles();
    } catch (err) {
      // the API, metrics and health check matter more than the page: serve them regardless
      this.opts.logger.error({ err }, "status page files not found: serving the API only");
    }
    const l = this.limits;
    const guard = this.connections;
    const tls = this.opts.tls ?? null;
    // over TLS a request's socket wraps the TCP socket the guard admitted: found again by its peer
    const rawByPeer = new Map<string, Socket>();
    const peer = (s: Socket) => `${s.remoteAddress}|${s.remotePort}`;
    const rawOf = (s: Socket) => (tls ? (rawByPeer.get(peer(s)) ?? s) : s);
    const options = {
      // the deadlines below hold within a second of being passed, not within Node's 30 s
      connectionsCheckingInterval: this.opts.checkIntervalMs ?? CHECK_INTERVAL_MS,
      headersTimeout: l.headersTimeoutS * 1000,
      // receiving the request only: an operator action may wait longer for its answer
      requestTimeout: l.requestTimeoutS * 1000,
      keepAliveTimeout: l.keepAliveTimeoutS * 1000,
    };
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      const raw = rawOf(req.socket);
      guard.requestStarted(raw);
      res.once("close", () => guard.requestEnded(raw));
      this.handle(req, res).catch((err) => this.opts.logger.error({ err }, "http handler failed"));
    };
    const server: Server = tls
      ? createHttpsServer({ ...options, cert: tls.cert, key: tls.key }, onRequest)
      : createServer(options, onRequest);
    server.maxRequestsPerSocket = l.maxRequestsPerSocket;
    // the caps decide before Node's HTTP machinery sees the socket: a connection over a cap
    // costs an accept and a close, no parser
    const inner = server.listeners("connection") as Array<(socket: Socket) => void>;
    server.removeAllListeners("connection");
    server.on("connection", (socket: Socket) => {
      if (!guard.admit(socket)) return;
      if (tls) {
        const key = peer(socket);
        rawByPeer.set(key, socket);
        socket.once("close", () => {
          if (rawByPeer.get(key) === socket) rawByPeer.delete(key);
        });
      }
      for (const fn of inner) fn.call(server, socket);
    });
    guard.start();
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(
          new Error(
            err.code === "EADDRINUSE"
              ? `http.listen ${this.opts.host}:${this.opts.port} is already in use`
              : `http.listen ${this.opts.host}:${this.opts.port}: ${err.message}`,
          ),
        );
      };
      server.once("error", onError);
      server.listen({ port: this.opts.port, host: this.opts.host, backlog: LISTEN_BACKLOG }, () => {
        server.off("error", onError);
        resolve();
      });
    });
    server.on("error", (err) => this.opts.logger.error({ err }, "http server error"));
    this.server = server;
    const { site } = this.opts;
    this.unsubscribe = [
      site.onEvent((e) => this.sse.event(e)),
      site.onTick(() => {
        if (this.sse.size > 0) this.sse.send("site", site.siteView());
      }),
    ];
  }

  /** The bound address (port 0 in tests picks a free one). */
  address(): AddressInfo | null {
    return (this.server?.address() as AddressInfo | null) ?? null;
  }

  async stop(): Promise<void> {
    for (const u of this.unsubscribe) u();
    this.unsubscribe = [];
    this.sse.closeAll();
    this.connections.stop();
    const server = this.server;
    if (!server) return;
    this.server = null;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://localhost");
    } catch {
      sendError(res, 400, "bad request URL");
      return;
    }
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    try {
      const method = req.method ?? "GET";
      const isGet = method === "GET" || method === "HEAD";
      const handler = this.router.handler(method, url.pathname);
      if (handler) {
        await handler(req, res, url);
        return;
      }
      if (isGet && this.serveFile(req, res, url.pathname)) return;
      const allowed = this.router.allowed(url.pathname);
      if (allowed.length > 0 || (!isGet && this.files.has(url.pathname))) {
        sendError(res, 405, `method ${method} not allowed`, {
          headers: { allow: allowed.join(", ") || "GET, HEAD" },
        });
        return;
      }
      sendError(res, 404, `no such endpoint: ${url.pathname}`);
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof HttpError) {
        // a refused oversized body is not read to its end: close rather than drain it
        const close: Record<string, string> = err.status === 413 ? { connection: "close" } : {};
        sendError(res, err.status, err.message, { headers: { ...err.headers, ...close } });
        if (err.status >= 500) this.opts.logger.warn({ path: url.pathname, status: err.status }, err.message);
        return;
      }
      this.opts.logger.error({ err, path: url.pathname }, "http handler failed");
      sendError(res, 500, "internal error");
    }
  }

  private serveFile(req: IncomingMessage, res: ServerResponse, path: string): boolean {
    const f = this.files.get(path);
    if (!f) return false;
    const headers: Record<string, string> = {
      etag: f.etag,
      // the page revalidates every time (an upgrade shows at once); the ETag makes that a 304
      "cache-control": "no-cache",
    };
    if (f.type.startsWith("text/html")) headers["content-security-policy"] = PAGE_CSP;
    if (req.headers["if-none-match"] === f.etag) {
      res.writeHead(304, headers);
      res.end();
      return true;
    }
    sendBody(res, 200, { body: f.body, type: f.type, headers });
    return true;
  }
}
