// Loopback ports for tests, without the race of "bind port 0, read it, close it,
// hand it on" (another process may take the port in between). Each test process
// leases a block of its own, a range of ports below the kernel's ephemeral range
// (so no outgoing connection is given one by chance), recorded under a lock in a
// lease file with its pid; `testPort()` hands the block's ports out in turn. A
// lease whose process has died is taken over. Where the code under test can bind
// port 0 and report the port it got (Site's httpListen, the sims), tests do that
// instead.
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import type { Server as HttpServer } from "node:http";
import { type AddressInfo, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const LEASES = join(tmpdir(), "wk-test-ports");
const LOCK = join(LEASES, "lock");
const FIRST_PORT = 20_000;
const PORTS_PER_BLOCK = 100;
/** 20000–31999: under Linux's default ephemeral range (32768–60999). */
const BLOCKS = 120;
/** The lock is held for a few file operations; one older than this was left by a killed process. */
const STALE_LOCK_MS = 5_000;

let block: { base: number; used: number } | null = null;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function withLock<T>(fn: () => T): T {
  mkdirSync(LEASES, { recursive: true });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      try {
        if (Date.now() - statSync(LOCK).mtimeMs > STALE_LOCK_MS)
          rmSync(LOCK, { recursive: true, force: true });
      } catch {
        // released meanwhile
      }
      if (Date.now() > deadline) throw new Error(`test ports: ${LOCK} held for 30 s`);
      sleepSync(5);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

/** Takes the lowest block no live process holds; the lease goes when this process exits. */
function leaseBlock(): { base: number; used: number } {
  const index = withLock(() => {
    const held = new Set<number>();
    for (const name of readdirSync(LEASES)) {
      if (!/^\d+$/.test(name)) continue;
      let owner: number;
      try {
        owner = Number(readFileSync(join(LEASES, name), "utf8"));
      } catch (err) {
        // an exiting process drops its lease without the lock: gone between readdir and read
        if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
        throw err;
      }
      if (owner !== process.pid && alive(owner)) held.add(Number(name));
      else rmSync(join(LEASES, name), { force: true });
    }
    for (let i = 0; i < BLOCKS; i++) {
      if (held.has(i)) continue;
      writeFileSync(join(LEASES, String(i)), String(process.pid));
      return i;
    }
    throw new Error(`test ports: all ${BLOCKS} blocks are leased by live processes (${LEASES})`);
  });
  process.once("exit", () => rmSync(join(LEASES, String(index)), { force: true }));
  return { base: FIRST_PORT + index * PORTS_PER_BLOCK, used: 0 };
}

function bindable(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/**
 * A loopback port no other test process will be handed: the next one of this
 * process's block. A port some program outside the tests holds is skipped.
 */
export async function testPort(host = "127.0.0.1"): Promise<number> {
  block ??= leaseBlock();
  while (block.used < PORTS_PER_BLOCK) {
    const port = block.base + block.used++;
    if (await bindable(port, host)) return port;
  }
  throw new Error(`test ports: this process used all ${PORTS_PER_BLOCK} ports of its block`);
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 10_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Starts `server` on a port of the kernel's choosing on 127.0.0.1; resolves with the port. */
export async function listenOnLoopback(server: Server): Promise<number> {
  server.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  return (server.address() as AddressInfo).port;
}

/** Stops an HTTP test server at once, kept-alive connections included. */
export function stopHttpServer(server: HttpServer): void {
  server.closeAllConnections();
  server.close();
}
