// A small HTTP client for the http-* integration tests: JSON in and out, a
// chosen source address (the login limiter counts per address), raw headers.
import { type IncomingMessage, request } from "node:http";
import { connect, type Socket } from "node:net";

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body's bytes as they came (still gzipped when the reply is). */
  bytes: Buffer;
  json: Record<string, unknown>;
}

export function call(
  base: string,
  method: string,
  path: string,
  opts: { body?: unknown; raw?: string; headers?: Record<string, string>; localAddress?: string } = {},
): Promise<Reply> {
  const url = new URL(path, base);
  const payload = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        localAddress: opts.localAddress,
        headers: {
          ...(payload !== undefined ? { "content-type": "application/json" } : {}),
          ...opts.headers,
        },
        timeout: 60_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const bytes = Buffer.concat(chunks);
          const text = bytes.toString("utf8");
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            // not JSON (metrics, html)
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, bytes, json });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on("error", reject);
    req.end(payload);
  });
}

/** The `name=value` part of a Set-Cookie header, to send back as Cookie. */
export function cookieOf(r: Reply): string {
  const set = r.headers["set-cookie"];
  const first = Array.isArray(set) ? set[0] : set;
  if (!first) throw new Error(`no Set-Cookie (status ${r.status}: ${r.text})`);
  return first.split(";")[0]!;
}

/** An open SSE stream: frames parsed as they arrive; `ended` once the agent closes it. */
export interface Stream {
  res: IncomingMessage;
  frames: Array<{ id: string | null; event: string; data: string }>;
  comments: string[];
  ended: boolean;
  close(): void;
}

export function openStream(
  base: string,
  opts: { headers?: Record<string, string>; localAddress?: string } = {},
): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL("/api/stream", base),
      { headers: opts.headers, localAddress: opts.localAddress },
      (res) => {
        const s: Stream = { res, frames: [], comments: [], ended: false, close: () => req.destroy() };
        let buf = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          buf += chunk;
          let i = buf.indexOf("\n\n");
          while (i >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const f = { id: null as string | null, event: "message", data: "" };
            let isFrame = false;
            for (const line of block.split("\n")) {
              if (line.startsWith(":")) s.comments.push(line);
              else if (line.startsWith("id: ")) f.id = line.slice(4);
              else if (line.startsWith("event: ")) {
                f.event = line.slice(7);
                isFrame = true;
              } else if (line.startsWith("data: ")) f.data = line.slice(6);
            }
            if (isFrame) s.frames.push(f);
            i = buf.indexOf("\n\n");
          }
        });
        res.on("end", () => {
          s.ended = true;
        });
        res.on("close", () => {
          s.ended = true;
        });
        res.on("error", () => {});
        resolve(s);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** A raw TCP connection to the server: what it received, and whether (and when) it was closed. */
export interface RawConn {
  socket: Socket;
  received: string;
  closedAt: number | null;
  openedAt: number;
}

export function rawConnect(port: number, localAddress?: string, host = "127.0.0.1"): Promise<RawConn> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host, localAddress });
    const c: RawConn = { socket, received: "", closedAt: null, openedAt: Date.now() };
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => {
      c.received += d;
    });
    socket.on("close", () => {
      c.closedAt = Date.now();
    });
    socket.on("error", () => {});
    socket.once("connect", () => resolve(c));
    socket.once("error", reject);
  });
}
