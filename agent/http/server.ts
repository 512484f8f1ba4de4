// The local HTTP endpoint for field technicians and scripts: JSON API over the
// latest snapshot and a health check. Read-only for now; every response is
// built from the last tick's snapshot so HTTP never waits on a device.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../logger.ts";

export interface HttpApi {
  /** `GET /api/site` body (DESIGN shape). */
  site(): unknown;
  /** `GET /api/devices` body. */
  devices(): unknown;
  /** Null while healthy; a reason when the loop has stalled. */
  unhealthyReason(): string | null;
}

export interface HttpServerOptions {
  host: string;
  port: number;
  api: HttpApi;
  logger: Logger;
}

export class HttpServer {
  private readonly opts: HttpServerOptions;
  private server: Server | null = null;

  constructor(opts: HttpServerOptions) {
    this.opts = opts;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 5000;
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
      server.listen(this.opts.port, this.opts.host, () => {
        server.off("error", onError);
        resolve();
      });
    });
    server.on("error", (err) => this.opts.logger.error({ err }, "http server error"));
    this.server = server;
  }

  /** The bound address (port 0 in tests picks a free one). */
  address(): AddressInfo | null {
    return (this.server?.address() as AddressInfo | null) ?? null;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://localhost");
    try {
      if (req.method !== "GET" && req.method !== "HEAD") {
        send(res, 405, { error: "method not allowed" }, { allow: "GET, HEAD" });
        return;
      }
      switch (url.pathname) {
        case "/api/site":
          send(res, 200, this.opts.api.site());
          break;
        case "/api/devices":
          send(res, 200, this.opts.api.devices());
          break;
        case "/healthz": {
          const reason = this.opts.api.unhealthyReason();
          send(res, reason ? 503 : 200, reason ? { ok: false, reason } : { ok: true });
          break;
        }
        default:
          send(res, 404, { error: `no such endpoint: ${url.pathname}` });
      }
    } catch (err) {
      this.opts.logger.error({ err, path: url.pathname }, "http handler failed");
      send(res, 500, { error: "internal error" });
    }
  }
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
    ...headers,
  });
  res.end(res.req.method === "HEAD" ? undefined : text);
}
