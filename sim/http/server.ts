// HTTP plumbing shared by the simulated web APIs (ePIC UMC, Proto, Auradine
// FluxOS, VNish, ESP-Miner, the Antminer CGI): one server per miner that tracks
// its sockets (so a reboot or stop can drop them) and refuses connections while
// the unit is off the network, bounded body reading, and JSON/text replies that
// are skipped when the client already hung up. Each firmware keeps its routes.
import http from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import type { Logger } from "pino";
import type { Listening } from "../listener.ts";

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/**
 * An (unbound) HTTP or HTTPS server for one miner's entry: its sockets are tracked in
 * `e.sockets`; while `offline()` says so, a new connection is dropped at once (a unit
 * that is rebooting has no web server). Bind it with bindListener.
 */
export function simHttpServer(
  e: Listening,
  handler: Handler,
  opts: { tls?: { key: string; cert: string }; offline?: () => boolean } = {},
): http.Server | https.Server {
  const offline = opts.offline ?? (() => false);
  const server = opts.tls ? https.createServer(opts.tls, handler) : http.createServer(handler);
  server.keepAliveTimeout = 5000; // node's default; a hint of 1 s tells a client not to keep the connection at all
  const track = (s: Socket) => {
    if (offline()) return void s.destroy();
    e.sockets.add(s);
    s.on("close", () => e.sockets.delete(s));
  };
  if (opts.tls) {
    // the TCP connection already drops while offline; the TLS one is what gets tracked
    server.on("connection", (s: Socket) => offline() && s.destroy());
    server.on("secureConnection", track);
  } else server.on("connection", track);
  return server;
}

/**
 * Reads a request body, keeping at most `maxBytes`; calls `onBody` at the end with the
 * text and whether the limit was passed. Request errors (a client reset) are logged at trace
 * with the miner's `id`.
 */
export function readBody(
  req: http.IncomingMessage,
  opts: { maxBytes: number; log: Logger; id: string },
  onBody: (raw: string, tooLarge: boolean) => void,
): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on("data", (c: Buffer) => {
    size += c.length;
    if (size <= opts.maxBytes) chunks.push(c);
  });
  req.on("error", (err) => opts.log.trace({ miner: opts.id, err }, "request error"));
  req.on("end", () => onBody(Buffer.concat(chunks).toString("utf8"), size > opts.maxBytes));
}

/** Whether a reply can still be written (the client may have gone, or a reply already left). */
function open(res: http.ServerResponse): boolean {
  return !res.destroyed && !res.writableEnded;
}

/** A JSON reply (`undefined` sends an empty body). */
export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  if (!open(res)) return;
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(body === undefined ? "" : JSON.stringify(body));
}

/** A text reply of the given content type, with any extra headers. */
export function sendText(
  res: http.ServerResponse,
  status: number,
  {
    text,
    headers = { "Content-Type": "text/plain; charset=utf-8" },
  }: { text: string; headers?: http.OutgoingHttpHeaders },
): void {
  if (!open(res)) return;
  res.writeHead(status, headers);
  res.end(text);
}
