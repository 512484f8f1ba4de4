// Binding and closing one simulated device's listener, shared by the sim's
// servers: a clear error naming the device and address when the bind fails,
// the real port recorded when 0 was asked, and every open socket dropped on close.
import type { Server, Socket } from "node:net";
import type { Logger } from "pino";

export interface Listening {
  id: string;
  host: string;
  port: number;
  server: Server | null;
  sockets: Set<Socket>;
}

/** Binds `server` to the entry's host:port; rejects with "`label` id cannot listen on host:port: CODE". */
export function bindListener(
  e: Listening,
  server: Server,
  label: string,
  log: Logger,
  backlog?: number,
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
