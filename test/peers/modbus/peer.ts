// Starts the peers of the Modbus suites: the pymodbus SDM630 slave (Debian's
// python3-pymodbus under /usr/bin/python3 — the python3 on PATH may be another
// interpreter without it) and a socat pty pair for RTU. A missing package fails
// the suite with a message naming it; it never skips.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cli } from "../../helpers/cli.ts";

export const PYTHON = "/usr/bin/python3";
const SLAVE = new URL("./sdm630_slave.py", import.meta.url).pathname;

export function requirePeers(needSocat: boolean): void {
  const missing: string[] = [];
  try {
    execFileSync(PYTHON, ["-c", "import pymodbus, pymodbus.datastore, pymodbus.payload"], { stdio: "pipe" });
  } catch (err) {
    const why = (err as { stderr?: Buffer }).stderr?.toString().trim().split("\n").pop() ?? String(err);
    missing.push(`python3-pymodbus (${PYTHON} cannot import pymodbus: ${why})`);
  }
  if (needSocat) {
    try {
      execFileSync("socat", ["-V"], { stdio: "pipe" });
    } catch {
      missing.push("socat (not on PATH)");
    }
  }
  if (missing.length > 0) {
    throw new Error(
      `Modbus peer suite needs Debian packages: ${missing.join("; ")}. Install: apt-get install python3-pymodbus socat (.ci/run does)`,
    );
  }
}

export interface Proc {
  child: ChildProcess;
  stop(): Promise<void>;
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 3000).unref();
    });
}

/** Starts the slave; resolves with what it printed after READY (the TCP port or the device path). */
export async function startSlave(args: string[]): Promise<Proc & { ready: string }> {
  const child = spawn(PYTHON, [SLAVE, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stderr!.on("data", (d) => {
    err += d;
  });
  const ready = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`pymodbus slave not ready after 10 s; stderr: ${err}`)),
      10_000,
    );
    child.stdout!.on("data", (d) => {
      out += d;
      const m = /READY (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`pymodbus slave exited (${code}); stderr: ${err}`));
    });
  });
  return { child, ready, stop: stopper(child) };
}

/** A socat pty pair; `a` and `b` are the two ends' paths. */
export async function startPtyPair(): Promise<Proc & { a: string; b: string }> {
  const dir = mkdtempSync(join(tmpdir(), "wk-modbus-pty-"));
  const a = join(dir, "a");
  const b = join(dir, "b");
  const child = spawn("socat", ["-d", "-d", `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  child.stderr!.on("data", (d) => {
    err += d;
  });
  const deadline = Date.now() + 5000;
  while (!(existsSync(a) && existsSync(b) && /starting data transfer loop/.test(err))) {
    if (child.exitCode !== null) throw new Error(`socat exited (${child.exitCode}): ${err}`);
    if (Date.now() > deadline) throw new Error(`socat pty pair not up after 5 s: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, a, b, stop: stopper(child) };
}

/** Runs the real CLI as a user would: `node bin/wattkeeper.js …`. */
export const runCli = cli;
