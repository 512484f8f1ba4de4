// Runs the real CLI (`bin/wattkeeper.js`) as a child process and collects its output.
import { spawn } from "node:child_process";

const BIN = new URL("../../bin/wattkeeper.js", import.meta.url).pathname;

export interface CliRun {
  code: number | null;
  out: string;
  err: string;
  /** Wall time of the run. */
  ms: number;
}

/** One CLI run; with `timeoutMs` a run that hangs is killed (code null) rather than holding the caller. */
export function cli(args: string[], opts: { timeoutMs?: number } = {}): Promise<CliRun> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    c.stdout.on("data", (d) => {
      out += d;
    });
    c.stderr.on("data", (d) => {
      err += d;
    });
    const kill = opts.timeoutMs ? setTimeout(() => c.kill("SIGKILL"), opts.timeoutMs) : null;
    c.on("exit", (code) => {
      if (kill) clearTimeout(kill);
      resolve({ code, out, err, ms: Date.now() - t0 });
    });
  });
}
