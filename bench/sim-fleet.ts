// The simulated fleet for the benches, as `wattkeeper sim` child processes of
// at most MINERS_PER_SIM miners each. One process cannot hold 20,000 loopback
// listeners: these machines' open-files hard limit is 20,000 per process (and
// HTTP firmwares take a second listener per miner), so a large fleet is split
// into consecutive address blocks, one process each, each with its own meters.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";

/** WK_SIM_BLOCK overrides it (to try the split on a small fleet). */
export const MINERS_PER_SIM = Number(process.env.WK_SIM_BLOCK ?? 5000);

const EXT = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
const NODE_ARGS = EXT === ".ts" ? ["--import", "tsx"] : [];
const ENTRY = new URL(`../agent/entry${EXT}`, import.meta.url).pathname;

async function isFree(port: number): Promise<boolean> {
  const s = createServer();
  return new Promise((resolve) => {
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/** Two consecutive free ports below the ephemeral range: a sim serves its site and mining meters on p and p+1. */
export async function freePortPair(): Promise<number> {
  for (let p = 15000 + Math.floor(Math.random() * 5000); ; p += 2) {
    if ((await isFree(p)) && (await isFree(p + 1))) return p;
  }
}

async function startOne(hosts: string[], dialects: readonly string[]): Promise<() => Promise<void>> {
  const child = spawn(
    process.execPath,
    [
      ...NODE_ARGS,
      ENTRY,
      "sim",
      "--miners",
      String(hosts.length),
      "--base-address",
      hosts[0]!,
      "--meter-port",
      String(await freePortPair()),
      "--dialect",
      dialects.join(","),
    ],
    { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, WATTKEEPER_LOG_LEVEL: "warn" } },
  );
  let out = "";
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (d) => {
      out += d;
      if (out.includes("meters:")) resolve();
    });
    child.on("exit", (code) => reject(new Error(`sim exited early (${code})`)));
  });
  return async () => {
    child.kill("SIGTERM");
    await once(child, "exit");
  };
}

/**
 * Serves `hosts` (consecutive, in the sim's own allocation order) from as many sim processes
 * as it takes; resolves once every one is serving, with a function that stops them all.
 */
export async function startSimFleet(
  hosts: string[],
  dialects: readonly string[] = ["antminer"],
): Promise<() => Promise<void>> {
  const blocks: string[][] = [];
  for (let i = 0; i < hosts.length; i += MINERS_PER_SIM) blocks.push(hosts.slice(i, i + MINERS_PER_SIM));
  const stops = await Promise.all(blocks.map((b) => startOne(b, dialects)));
  return async () => {
    await Promise.all(stops.map((stop) => stop()));
  };
}
