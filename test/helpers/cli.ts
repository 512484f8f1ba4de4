// Runs node (and the real CLI, `bin/wattkeeper.js`) as a child process and collects its output.
import { spawn } from "node:child_process";

const BIN = new URL("../../bin/wattkeeper.js", import.meta.url).pathname;

export interface CliRun {
  code: number | null;
  out: string;
  err: string;
  /** Wall time of the run. */
  ms: number;
}

export interface RunOptions {
  /** A run that hangs is killed (code null) rather than holding the caller. */
  timeoutMs?: number;
  cwd?: string;
}

/** `node ARGS…`: one run of this Node binary with its output. */
export function runNode(args: string[], opts: RunOptions = {}): Promise<CliRun> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const c = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], cwd: opts.cwd });
    let out = "";
    let err = "";
    c.stdout.on("data", (d) => {
      out += d;
    });
    c.stderr.on("data", (d) => {
      err += d;
    });
    const kill = opts.timeoutMs ? setTimeout(() => c.kill("SIGKILL"), opts.timeoutMs) : null;
    c.on("close", (code) => {
      if (kill) clearTimeout(kill);
      resolve({ code, out, err, ms: Date.now() - t0 });
    });
  });
}

/** One CLI run, as a user would: `node bin/wattkeeper.js ARGS…`. */
export function cli(args: string[], opts: RunOptions = {}): Promise<CliRun> {
  return runNode([BIN, ...args], opts);
}
