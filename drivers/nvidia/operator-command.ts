// Operator-configured commands on a GPU node (a Slurm drain, `kubectl cordon`,
// and their resume commands), run over the node's own SSH link. The command is
// a config string for the remote user's shell: it is passed to that shell
// unchanged (quoted once as one argument of `$SHELL -c`, which keeps its
// meaning), wrapped in `timeout` on the node so it ends there too, and bounded
// by a local deadline that closes the channel. Output is clipped and made
// printable for the audit; nothing here throws.
import { printable } from "../printable.ts";
import { DriverError } from "../types.ts";
import { firstLine } from "./parse.ts";
import type { SshLink } from "./ssh.ts";
import type { GpuLogger, OperatorCommandOutcome } from "./types.ts";

/** Characters of stdout and of stderr kept for the audit (each). */
export const OPERATOR_OUTPUT_MAX_CHARS = 4096;
/** Longest command accepted: a drain command is one line, not a script. */
const OPERATOR_COMMAND_MAX_CHARS = 2048;

/** Why a configured command cannot be run (null = it can): empty, multi-line, NUL, too long. */
export function operatorCommandProblem(command: unknown): string | null {
  if (typeof command !== "string") return "the command must be a string";
  if (command.trim() === "") return "the command is empty";
  // one line only: a newline would let a config value smuggle a second command past review
  if (/[\r\n]/.test(command)) return "the command contains a line break (one line only)";
  if (command.includes("\u0000")) return "the command contains a NUL character";
  if (command.length > OPERATOR_COMMAND_MAX_CHARS)
    return `the command is ${command.length} characters long (at most ${OPERATOR_COMMAND_MAX_CHARS})`;
  return null;
}

/** POSIX single-quoting: the shell that reads it gets back exactly `s`, as one word. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Seconds the node's own `timeout` gets: under the local deadline by a fifth
 * (at least 1 s), so its exit status (124) comes back for the audit before we
 * close the channel. Starting a session and the user's shell on a loaded node
 * takes part of the deadline too, so the margin grows with it.
 */
export function remoteTimeoutS(timeoutMs: number): number {
  const marginMs = Math.max(1000, timeoutMs * 0.2);
  return Math.max(0.5, Math.round((timeoutMs - marginMs) / 100) / 10);
}

/**
 * The line sent over SSH. sshd hands it to the user's login shell; `timeout`
 * then starts that same shell (`"$SHELL"`, which sshd always sets; the form
 * every common shell expands) on the configured command, so the command means
 * what it would mean typed at that user's prompt. `-k 1` kills what
 * ignores SIGTERM; coreutils' timeout signals the whole process group.
 */
export function wrapOperatorCommand(command: string, timeoutMs: number): string {
  return `timeout -k 1 ${remoteTimeoutS(timeoutMs)} "$SHELL" -c ${shellQuote(command)}`;
}

/** Bounded, printable output: at most `max` characters of the text, then how much was cut. */
export function clipOutput(text: string, max = OPERATOR_OUTPUT_MAX_CHARS): string {
  if (text.length <= max) return printable(text);
  return `${printable(text.slice(0, max))}… (${text.length - max} more characters)`;
}

/** Why a finished command failed, naming its exit status and the first line of stderr (else stdout). */
export function exitCodeReason(
  { code, stdout, stderr }: { code: number; stdout: string; stderr: string },
  timeoutMs: number,
): string {
  const said = printable(firstLine(stderr) || firstLine(stdout));
  const why =
    code === 124
      ? ` (the node's timeout ended it after ${remoteTimeoutS(timeoutMs)} s)`
      : code === 137
        ? " (killed: it ignored the node's timeout, or something else killed it)"
        : code === 127
          ? " (command not found on the node)"
          : "";
  return `exit code ${code}${why}${said ? `: ${said}` : ""}`;
}

/** Where an operator command runs: the node's SSH link, its clock, its logger and its address. */
export interface OperatorCommandNode {
  link: () => Promise<SshLink>;
  now: () => number;
  logger?: GpuLogger | null;
  host: string;
}

/** Runs one operator command over `env.link` under the deadline. Never throws. */
export async function runOperatorCommand(
  env: OperatorCommandNode,
  command: string,
  opts: { timeoutMs: number; signal?: AbortSignal },
): Promise<OperatorCommandOutcome> {
  const { link } = env;
  const started = env.now();
  const refuse = (reason: string): OperatorCommandOutcome => ({
    ok: false,
    exitCode: null,
    stdout: "",
    stderr: "",
    durationMs: env.now() - started,
    reason,
  });
  const problem = operatorCommandProblem(command);
  if (problem !== null) return refuse(`not run: ${problem}`);
  if (!Number.isFinite(opts.timeoutMs) || opts.timeoutMs <= 0)
    return refuse("not run: the deadline must be a positive number of milliseconds");
  if (opts.signal?.aborted) return refuse("not run: aborted before it started");
  let out: OperatorCommandOutcome;
  try {
    const l = await link();
    const r = await l.exec(wrapOperatorCommand(command, opts.timeoutMs), {
      timeoutMs: opts.timeoutMs,
      signal: opts.signal,
    });
    const base = {
      exitCode: r.code,
      stdout: clipOutput(r.stdout),
      stderr: clipOutput(r.stderr),
      durationMs: r.durationMs,
    };
    if (r.timedOut)
      out = {
        ...base,
        ok: false,
        reason: opts.signal?.aborted
          ? `aborted after ${r.durationMs} ms; the channel was closed (the command may have run in part)`
          : `did not finish within ${opts.timeoutMs} ms; the channel was closed (the command may have run in part)`,
      };
    else if (r.code === 0) out = { ...base, ok: true, reason: null };
    else if (r.code === null)
      out = {
        ...base,
        ok: false,
        reason: `ended without an exit status${r.signal ? ` (signal ${r.signal})` : ""}`,
      };
    else out = { ...base, ok: false, reason: exitCodeReason({ ...r, code: r.code }, opts.timeoutMs) };
  } catch (err) {
    out = refuse(
      err instanceof DriverError ? `${err.code}: ${err.message}` : String((err as Error)?.message ?? err),
    );
  }
  const fields = {
    host: env.host,
    command: printable(command),
    exitCode: out.exitCode,
    durationMs: out.durationMs,
    stdout: out.stdout,
    stderr: out.stderr,
  };
  if (out.ok) env.logger?.info(fields, "operator command ran");
  else env.logger?.warn({ ...fields, reason: out.reason }, "operator command failed");
  return out;
}
