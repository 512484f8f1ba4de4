// The child processes of one `npm run flood` run: the simulated site (its
// sockets must not count against the agent's open-file limit), the agent
// itself under `prlimit --nofile=N` with its config, and the worker processes
// that hold the half-open connections (one process holds at most its own limit
// of sockets). Each child is pushed onto the caller's list, to be killed on
// the way out whatever happens.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import {
  emptyHalfOpenStats,
  type HalfOpenOptions,
  type HalfOpenStats,
  sourceAddresses,
} from "./flood-tools.ts";

const EXT = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
const NODE_ARGS = EXT === ".ts" ? ["--import", "tsx"] : [];
export const FLOOD_SITE = "flood";

export interface FloodSim {
  child: ChildProcess;
  /** The site's power now, from the simulator's model (ground truth). */
  powerW(): number;
  /** The first reading at or after `sinceMs` that is at or under `w`: its epoch ms. */
  reachedAt(sinceMs: number, w: number): number | null;
}

/** `miners` LuxOS miners from 127.66.0.1 and the site meter on `meterPort`, in a child; resolves once serving. */
export async function startFloodSim(
  o: { miners: number; meterPort: number },
  children: ChildProcess[],
): Promise<FloodSim> {
  const child = spawn(
    process.execPath,
    [
      ...NODE_ARGS,
      new URL(`./flood-sim${EXT}`, import.meta.url).pathname,
      String(o.miners),
      "127.66.0.1",
      String(o.meterPort),
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  children.push(child);
  let powerW = 0;
  const power: Array<[number, number]> = [];
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (line === "ready") resolve();
      else if (line.startsWith("P ")) {
        const [, at, w] = line.split(" ");
        powerW = Number(w);
        power.push([Number(at), powerW]);
        if (power.length > 20_000) power.splice(0, 10_000);
      }
    });
    child.on("exit", (code) => reject(new Error(`flood sim exited (${code})`)));
  });
  return {
    child,
    powerW: () => powerW,
    reachedAt: (sinceMs, w) => power.find(([at, p]) => at >= sinceMs && p <= w)?.[0] ?? null,
  };
}

export interface AgentSetup {
  dir: string;
  miners: number;
  nofile: number;
  ports: { http: number; meter: number; broker: number };
  passwordHash: string;
  /** The command key's public half, written next to the config. */
  publicKeyPem: string;
}

function floodYaml(o: AgentSetup): string {
  return `site: { id: ${FLOOD_SITE}, timezone: UTC, contractLimitW: 20MW }
http:
  listen: "127.0.0.1:${o.ports.http}"
  operators: [{ name: tech, passwordHash: "${o.passwordHash}" }]
store: { path: ${join(o.dir, "state.db")} }
mqtt:
  url: mqtt://127.0.0.1:${o.ports.broker}
  protocolVersion: 4
  commandKeys: [{ name: ops, publicKeyFile: ${join(o.dir, "ops.pub.pem")} }]
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${o.ports.meter}", unitId: 1 } }
miners:
  - { hosts: 127.66.0.1-${sourceAddresses("127.66.0", o.miners).at(-1)}, dialect: luxos }
control:
  tickS: 1
  shedMarginW: 2kW
  restoreMarginW: 6kW
  emergencyMarginW: 20kW
  minOnS: 1s
  minOffS: 1s
  rampUpWPerMin: 50MW
  restoreStaggerS: 0
  meterStaleS: 5
  unmeteredW: 10kW
  failsafeBudgetW: 10MW
`;
}

/** Writes the agent's config (signed commands, one operator, the simulated miners) and starts it; its log in `dir`. */
export function startFloodAgent(o: AgentSetup, children: ChildProcess[]): ChildProcess {
  writeFileSync(join(o.dir, "ops.pub.pem"), o.publicKeyPem);
  const configFile = join(o.dir, "flood.yaml");
  writeFileSync(configFile, floodYaml(o));
  const bin =
    EXT === ".js"
      ? new URL("../agent/entry.js", import.meta.url).pathname
      : new URL("../bin/wattkeeper.js", import.meta.url).pathname;
  const agent = spawn(
    "prlimit",
    [`--nofile=${o.nofile}:${o.nofile}`, process.execPath, bin, "run", "--config", configFile],
    {
      cwd: o.dir,
      stdio: ["ignore", openSync(join(o.dir, "agent.log"), "a"), "inherit"],
      env: { ...process.env, WATTKEEPER_LOG_LEVEL: "info" },
    },
  );
  children.push(agent);
  return agent;
}

export interface FloodWorkers {
  /** The workers' stats, summed (each reports once a second). */
  stats(): HalfOpenStats;
  stop(): Promise<void>;
}

/** `connections` half-open connections from `sources`, `perWorker` to a worker process. */
export function startFloodWorkers(
  o: Omit<HalfOpenOptions, "rampPerS" | "connections" | "sources"> & {
    connections: number;
    sources: string[];
    perWorker: number;
  },
  children: ChildProcess[],
): FloodWorkers {
  const workers: ChildProcess[] = [];
  const workerStats: HalfOpenStats[] = [];
  const nWorkers = Math.max(1, Math.ceil(o.connections / o.perWorker));
  for (let w = 0; w < nWorkers; w++) {
    const share = Math.min(o.perWorker, o.connections - w * o.perWorker);
    const opts: HalfOpenOptions = {
      host: o.host,
      port: o.port,
      connections: share,
      sources: o.sources.filter((_, i) => i % nWorkers === w),
      trickleMs: o.trickleMs,
      reopenMs: o.reopenMs,
      rampPerS: 4000 / nWorkers,
    };
    // the workers run at a lower priority: on a real LAN the attacker's CPU is its own, not
    // the gateway's; here they share two cores with the agent, which must not lose them to it
    const child = spawn(
      "nice",
      [
        "-n",
        "10",
        "prlimit",
        `--nofile=${share + 256}:${share + 256}`,
        process.execPath,
        ...NODE_ARGS,
        new URL(`./flood-worker${EXT}`, import.meta.url).pathname,
        JSON.stringify(opts),
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    children.push(child);
    workers.push(child);
    createInterface({ input: child.stdout! }).on("line", (line) => {
      try {
        workerStats[w] = JSON.parse(line) as HalfOpenStats;
      } catch {}
    });
  }
  return {
    stats: () => {
      const sum = emptyHalfOpenStats();
      for (const s of workerStats) {
        if (!s) continue;
        for (const k of Object.keys(sum) as Array<keyof HalfOpenStats>) sum[k] += s[k];
      }
      return sum;
    },
    stop: async () => {
      for (const w of workers) w.kill("SIGTERM");
      await Promise.all(workers.map((w) => (w.exitCode === null ? once(w, "exit") : null)));
    },
  };
}
