// The simulated node's login shell: what its SSH exec channel runs. It records
// every command line (with when it came), applies test hooks (a command that
// hangs, or fails with a given exit code and text), unwraps what a client puts
// around a command (`timeout …`, `"$SHELL" -c '…'`, `sudo`), and hands the
// program to the scripted nvidia-smi or the workload manager. Anything else is
// "command not found", exit 127, as bash says it. Words are split the way a
// POSIX shell splits them (quotes, backslashes); no expansion beyond `$SHELL`.
import type { SmiSim } from "./smi.ts";
import type { ShellResult, WorkloadSim } from "./workload.ts";

export interface CommandRecord {
  at: number;
  command: string;
}

/**
 * A test hook: commands whose line matches hang or answer as given. A hang
 * ignores the node's `timeout` too (a process stuck in the kernel), so only
 * the client closing its channel ends it.
 */
export interface CommandFault {
  match: string | RegExp;
  hang?: boolean;
  exitCode?: number;
  stdout?: string;
  stderr?: string;
  /** How many matching commands it applies to (default: all); then it is dropped. */
  times?: number;
}

const LOG_MAX = 1000;
const SHELLS = new Set(["sh", "bash", "dash", "/bin/sh", "/bin/bash", "/usr/bin/bash", "$SHELL"]);

/** Splits a command line into words as sh does (quotes removed); null when a quote is left open. */
export function splitWords(line: string): string[] | null {
  const words: string[] = [];
  let cur = "";
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) return null;
      cur += line.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === "\\" && /["\\$`]/.test(line[j + 1] ?? "")) j++;
        cur += line[j];
      }
      if (j >= line.length) return null;
      i = j;
      inWord = true;
    } else if (c === "\\") {
      cur += line[i + 1] ?? "";
      i++;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

export class ShellSim {
  readonly smi: SmiSim;
  readonly workload: WorkloadSim;
  /** Test hooks, checked in order against each command line. */
  faults: CommandFault[] = [];
  private readonly log: CommandRecord[] = [];
  private readonly now: () => number;

  constructor(o: { smi: SmiSim; workload: WorkloadSim; now?: () => number }) {
    this.smi = o.smi;
    this.workload = o.workload;
    this.now = o.now ?? Date.now;
  }

  /** The command lines received (the last 1000), oldest first. */
  commands(): readonly CommandRecord[] {
    return this.log;
  }

  run(command: string): ShellResult {
    this.log.push({ at: this.now(), command });
    if (this.log.length > LOG_MAX) this.log.splice(0, this.log.length - LOG_MAX);
    const fault = this.faults.find((f) =>
      typeof f.match === "string" ? command.includes(f.match) : f.match.test(command),
    );
    if (fault) {
      if (fault.times !== undefined && --fault.times <= 0) this.faults.splice(this.faults.indexOf(fault), 1);
      if (fault.hang) return { hang: true };
      return { stdout: fault.stdout ?? "", stderr: fault.stderr ?? "", code: fault.exitCode ?? 0 };
    }
    let words = splitWords(command);
    if (words === null)
      return { stdout: "", stderr: "bash: unexpected EOF while looking for matching quote\n", code: 2 };
    words = stripTimeout(words);
    // the driver's own nvidia-smi line goes to the scripted driver as sent (its parser, its fuzz hooks)
    if (words[0] === "nvidia-smi") return this.smi.run(command);
    if (SHELLS.has(words[0] ?? "") && words[1] === "-c" && words[2] !== undefined) {
      const inner = splitWords(words[2]);
      if (inner === null)
        return { stdout: "", stderr: "bash: -c: unexpected EOF while looking for matching quote\n", code: 2 };
      words = inner;
    }
    const op = words.find((w) => /^(;|&&|\|\||\||&)$/.test(w));
    if (op !== undefined)
      return { stdout: "", stderr: `sim shell: "${op}" is not simulated; one command per line\n`, code: 2 };
    words = stripSudo(words);
    const [prog, ...args] = words;
    if (prog === undefined) return { stdout: "", stderr: "", code: 0 };
    const name = prog.slice(prog.lastIndexOf("/") + 1);
    if (name === "nvidia-smi") return this.smi.run(["nvidia-smi", ...args].join(" "));
    if (name === "scontrol") return this.workload.scontrol(args);
    if (name === "kubectl") return this.workload.kubectl(args);
    if (name === "true") return { stdout: "", stderr: "", code: 0 };
    if (name === "echo") return { stdout: `${args.join(" ")}\n`, stderr: "", code: 0 };
    return { stdout: "", stderr: `bash: ${prog}: command not found\n`, code: 127 };
  }
}

/** `timeout [-k K] [-s SIG] [--foreground] DURATION cmd…` → `cmd…` (the sim does not enforce it). */
function stripTimeout(words: string[]): string[] {
  if (words[0] !== "timeout") return words;
  let i = 1;
  while (words[i]?.startsWith("-")) i += words[i] === "-k" || words[i] === "-s" ? 2 : 1;
  return words.slice(i + 1);
}

function stripSudo(words: string[]): string[] {
  if (words[0] !== "sudo") return words;
  let i = 1;
  while (words[i]?.startsWith("-")) i += words[i] === "-u" || words[i] === "-g" ? 2 : 1;
  return words.slice(i);
}
