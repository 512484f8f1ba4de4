// `node --import tsx bench/gpu.ts [--nodes 100] [--sweeps 5]`: 100 simulated GPU
// nodes (8× H100 each, ssh2 servers in a child process) polled by (a) a bare
// baseline — one ssh2 connection per node and plain execs of the same two
// commands — and (b) the driver (GpuNode through the agent's Poller), each in a
// fresh process. Prints sweep time (first sweep includes connecting), RSS and
// the connections open on the sim side, with the driver/bare ratio.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";

const SELF = new URL(import.meta.url).pathname;
const mode = process.argv[2] && !process.argv[2].startsWith("--") ? process.argv[2] : "main";

interface SimInfo {
  ports: number[];
  fingerprint: string;
  clientKey: string;
}
interface Result {
  firstMs: number;
  medianMs: number;
  rssMiB: number;
  failed: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rssMiB = () => Math.round(process.memoryUsage().rss / 2 ** 20);

async function simMain(n: number) {
  const { startGpuNodeSim } = await import("../sim/gpu/server.ts");
  const { generateKeyPair } = await import("../sim/gpu/ssh2.ts");
  const client = generateKeyPair();
  const hostKey = generateKeyPair().privateKey;
  const sims = [];
  for (let i = 0; i < n; i++)
    sims.push(await startGpuNodeSim({ id: `g${i}`, authorizedKeys: [client.publicKey], hostKey }));
  const info: SimInfo = {
    ports: sims.map((s) => s.port),
    fingerprint: sims[0]!.hostKeyFingerprint,
    clientKey: client.privateKey,
  };
  process.stdout.write(`${JSON.stringify(info)}\n`);
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === "stats") {
      const connections = sims.reduce((a, s) => a + s.connections(), 0);
      const channels = sims.reduce((a, s) => a + s.openChannels(), 0);
      process.stdout.write(`${JSON.stringify({ connections, channels })}\n`);
    } else break;
  }
  await Promise.all(sims.map((s) => s.stop()));
  process.exit(0);
}

type Run = { result: Result; close: () => Promise<void> };

async function bareMain(info: SimInfo, sweeps: number): Promise<Run> {
  const { Client } = await import("../sim/gpu/ssh2.ts");
  const { planQuery, queryArgs, COMPUTE_APPS_ARGS } = await import("../drivers/nvidia/parse.ts");
  const q = `timeout -k 1 9 nvidia-smi ${queryArgs(planQuery(null)).join(" ")}`;
  const apps = `timeout -k 1 9 nvidia-smi ${COMPUTE_APPS_ARGS.join(" ")}`;
  type C = InstanceType<typeof Client>;
  const clients: (C | null)[] = info.ports.map(() => null);
  const exec = (c: C, cmd: string) =>
    new Promise<string>((resolve, reject) => {
      c.exec(cmd, (err, ch) => {
        if (err) return reject(err);
        let out = "";
        ch.on("data", (d: Buffer) => {
          out += d;
        });
        ch.stderr.resume();
        ch.on("close", () => resolve(out));
      });
    });
  const connect = (port: number) =>
    new Promise<C>((resolve, reject) => {
      const c = new Client();
      c.on("ready", () => resolve(c));
      c.on("error", reject);
      c.connect({ host: "127.0.0.1", port, username: "bench", privateKey: info.clientKey });
    });
  const times: number[] = [];
  let failed = 0;
  for (let s = 0; s < sweeps; s++) {
    const t0 = performance.now();
    await Promise.all(
      info.ports.map(async (port, i) => {
        try {
          clients[i] ??= await connect(port);
          const [out] = await Promise.all([exec(clients[i]!, q), exec(clients[i]!, apps)]);
          if (out.split("\n").filter(Boolean).length !== 8) failed++;
        } catch {
          failed++;
        }
      }),
    );
    times.push(performance.now() - t0);
  }
  const result = { firstMs: times[0]!, medianMs: median(times.slice(1)), rssMiB: rssMiB(), failed };
  return {
    result,
    close: async () => {
      for (const c of clients) c?.end();
    },
  };
}

async function agentMain(info: SimInfo, sweeps: number): Promise<Run> {
  const { GpuNode } = await import("../drivers/nvidia/node.ts");
  const { Poller } = await import("../agent/devices/poller.ts");
  const { silentLogger } = await import("../agent/runtime/logger.ts");
  const nodes = info.ports.map(
    (port) =>
      new GpuNode({
        host: "127.0.0.1",
        port,
        user: "bench",
        privateKey: info.clientKey,
        hostKeySha256: info.fingerprint,
        floorW: 350,
      }),
  );
  let failed = 0;
  const poller = new Poller({
    name: "gpu",
    targets: nodes.map((n, i) => ({ id: `g${i}`, read: (signal: AbortSignal) => n.read(signal) })),
    intervalMs: 10_000,
    concurrency: nodes.length,
    timeoutMs: 15_000,
    isFailure: (r) => r.state !== "ok",
    onReading: (_id, r) => {
      if (r.state !== "ok" || r.gpus.length !== 8) failed++;
    },
    onError: () => {
      failed++;
    },
    logger: silentLogger(),
  });
  const times: number[] = [];
  for (let s = 0; s < sweeps; s++) {
    const t0 = performance.now();
    await poller.sweep();
    times.push(performance.now() - t0);
  }
  const result = { firstMs: times[0]!, medianMs: median(times.slice(1)), rssMiB: rssMiB(), failed };
  return {
    result,
    close: async () => {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}

async function measure(kind: "bare" | "agent", info: SimInfo, sweeps: number, sim: SimChild) {
  const child = spawn(process.execPath, ["--import", "tsx", SELF, kind, String(sweeps)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  child.stdin.write(`${JSON.stringify(info)}\n`);
  const lines = createInterface({ input: child.stdout });
  const it = lines[Symbol.asyncIterator]();
  const result = JSON.parse((await it.next()).value as string) as Result;
  const open = await sim.stats(); // connections still held by the measuring process, before it ends
  child.stdin.end();
  await once(child, "exit");
  return { ...result, connections: open.connections };
}

interface SimChild {
  info: SimInfo;
  stats(): Promise<{ connections: number; channels: number }>;
  stop(): Promise<void>;
}

async function startSimChild(n: number): Promise<SimChild> {
  const child = spawn(process.execPath, ["--import", "tsx", SELF, "sim", String(n)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const it = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const info = JSON.parse((await it.next()).value as string) as SimInfo;
  return {
    info,
    async stats() {
      child.stdin.write("stats\n");
      return JSON.parse((await it.next()).value as string);
    },
    async stop() {
      child.stdin.end("quit\n");
      await once(child, "exit");
    },
  };
}

async function main() {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { nodes: { type: "string", default: "100" }, sweeps: { type: "string", default: "6" } },
  });
  const n = Number(values.nodes);
  const sweeps = Math.max(2, Number(values.sweeps));
  const sim = await startSimChild(n);
  try {
    const bare = await measure("bare", sim.info, sweeps, sim);
    const agent = await measure("agent", sim.info, sweeps, sim);
    const after = await sim.stats();
    const row = (name: string, r: typeof bare) =>
      `| ${name.padEnd(22)} | ${r.firstMs.toFixed(0).padStart(9)} | ${r.medianMs.toFixed(0).padStart(9)} | ${String(r.rssMiB).padStart(8)} | ${String(r.connections).padStart(11)} | ${String(r.failed).padStart(6)} |`;
    const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}×` : "n/a");
    console.log(
      `GPU nodes: ${n} simulated 8× H100 nodes (ssh2 servers, loopback), ${sweeps} sweeps each, poll period 10 s`,
    );
    console.log("| what                   | first, ms | sweep, ms | RSS, MiB | connections | failed |");
    console.log("|------------------------|-----------|-----------|----------|-------------|--------|");
    console.log(row("bare ssh2 exec", bare));
    console.log(row("driver GpuNode+Poller", agent));
    console.log(
      `| ratio driver/bare      | ${ratio(agent.firstMs, bare.firstMs).padStart(9)} | ${ratio(agent.medianMs, bare.medianMs).padStart(9)} | ${ratio(agent.rssMiB, bare.rssMiB).padStart(8)} |             |        |`,
    );
    console.log(
      `sweep time is ${((agent.medianMs / 10_000) * 100).toFixed(1)}% of the 10 s period; sim-side channels left open after both runs: ${after.channels}`,
    );
  } finally {
    await sim.stop();
  }
}

async function childMain(kind: "bare" | "agent", sweeps: number) {
  const it = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const info = JSON.parse((await it.next()).value as string) as SimInfo;
  const run = await (kind === "bare" ? bareMain : agentMain)(info, sweeps);
  process.stdout.write(`${JSON.stringify(run.result)}\n`);
  await it.next(); // connections stay open until the parent has counted them
  await run.close();
  process.exit(0);
}

if (mode === "sim") await simMain(Number(process.argv[3] ?? 100));
else if (mode === "bare" || mode === "agent") await childMain(mode, Number(process.argv[3] ?? 5));
else await main();
