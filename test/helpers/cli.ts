// Runs the real CLI (`bin/wattkeeper.js`) as a child process and collects its output.
import { spawn } from "node:child_process";

const BIN = new URL("../../bin/wattkeeper.js", import.meta.url).pathname;

export function cli(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [BIN, ...args]);
    let out = "";
    let err = "";
    c.stdout.on("data", (d) => {
      out += d;
    });
    c.stderr.on("data", (d) => {
      err += d;
    });
    c.on("exit", (code) => resolve({ code, out, err }));
  });
}
