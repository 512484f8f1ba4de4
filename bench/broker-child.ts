// A counting MQTT broker in a child process, for the benches that measure what
// the MQTT channel publishes (bench/mqtt.ts, bench/telemetry.ts): in a process
// of its own the broker's CPU is not the agent's. The bench forks its own file
// with `--broker-child PORT`; the child runs an embedded broker (aedes), keeps
// a tally of every client publish, and answers "count", "reset" and "stop"
// over IPC.
import { fork } from "node:child_process";
import { startEmbeddedBroker } from "../sim/mqtt/broker.ts";

/** What the child counts; `reset` starts it afresh. */
export interface Tally<C> {
  counts(): C;
  publish(topic: string, payload: Buffer): void;
  reset(): void;
}

/** The port to serve, when this process is a broker child; null otherwise. */
export function brokerChildPort(): number | null {
  const i = process.argv.indexOf("--broker-child");
  return i < 0 ? null : Number(process.argv[i + 1]);
}

/** In the child: serves until the parent says "stop", then exits. */
export async function serveCountingBroker<C>(port: number, tally: Tally<C>): Promise<never> {
  const b = await startEmbeddedBroker({ port });
  b.broker.on("publish", (packet, client) => {
    if (!client) return; // the broker's own $SYS messages
    tally.publish(packet.topic, packet.payload as Buffer);
  });
  process.on("message", (m: string) => {
    if (m === "count") process.send?.(tally.counts());
    if (m === "reset") {
      tally.reset();
      process.send?.(tally.counts());
    }
    if (m === "stop") void b.stop().then(() => process.exit(0));
  });
  process.send?.({ ready: true });
  return new Promise<never>(() => {});
}

export interface BrokerChild<C> {
  ask(m: "count" | "reset"): Promise<C>;
  stop(): void;
}

/** In the bench: forks `moduleUrl` as the broker child on `port`; resolves once it serves. */
export async function forkBrokerChild<C>(moduleUrl: string, port: number): Promise<BrokerChild<C>> {
  const child = fork(new URL(moduleUrl).pathname, ["--broker-child", String(port)], {
    execArgv: moduleUrl.endsWith(".ts") ? ["--import", "tsx"] : [],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  await new Promise<void>((r) => child.once("message", () => r()));
  return {
    ask: (m) =>
      new Promise<C>((resolve) => {
        child.once("message", (x) => resolve(x as C));
        child.send(m);
      }),
    stop: () => child.send("stop"),
  };
}
