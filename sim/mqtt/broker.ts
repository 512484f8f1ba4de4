// An embedded MQTT 3.1.1 broker (aedes) on a loopback port, for the simulated
// site and the tests. `interrupt()`/`resume()` cut and restore the network side
// while the broker keeps its sessions, as a broker restart with persistent
// sessions would; `stop()` ends it for good.
import { createServer, type Server, type Socket } from "node:net";
import { Aedes } from "aedes";

export interface EmbeddedBroker {
  url: string;
  host: string;
  port: number;
  broker: Aedes;
  /** Closes the listener and every connection (clients see the broker gone). */
  interrupt(): Promise<void>;
  /** Listens again on the same port. */
  resume(): Promise<void>;
  stop(): Promise<void>;
}

export async function startEmbeddedBroker(
  opts: { host?: string; port?: number } = {},
): Promise<EmbeddedBroker> {
  const host = opts.host ?? "127.0.0.1";
  const broker = await Aedes.createBroker();
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  let port = opts.port ?? 0;
  const listen = async () => {
    if (server) return; // already up: resume() is safe to call in a test's finally
    const s = createServer((sock) => {
      sockets.add(sock);
      sock.on("close", () => sockets.delete(sock));
      broker.handle(sock);
    });
    await new Promise<void>((resolve, reject) => {
      s.once("error", reject);
      s.listen(port, host, () => {
        s.off("error", reject);
        resolve();
      });
    });
    port = (s.address() as { port: number }).port;
    server = s;
  };
  const interrupt = async () => {
    const s = server;
    server = null;
    for (const sock of sockets) sock.destroy();
    sockets.clear();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  };
  await listen();
  return {
    get url() {
      return `mqtt://${host}:${port}`;
    },
    host,
    get port() {
      return port;
    },
    broker,
    interrupt,
    resume: listen,
    async stop() {
      await interrupt();
      await new Promise<void>((r) => broker.close(() => r()));
    },
  };
}
