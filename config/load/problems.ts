// What the loader reports: a problem at a path of the user's own file, the
// ConfigError that carries them all, and how paths and values are written in
// messages.

export interface Problem {
  /** Where in the file, e.g. "miners[3].hosts"; "" for the whole file. */
  path: string;
  message: string;
  /** Where in the source, 1-based, when the file has a node for the path. */
  line?: number;
  col?: number;
  /** The file the problem is in, when not the config file itself (a shipped model file). */
  file?: string;
}

export class ConfigError extends Error {
  readonly file: string;
  readonly problems: Problem[];
  /** Warnings found alongside the problems (missing files with strictFiles off, …). */
  readonly warnings: Problem[];
  constructor(file: string, problems: Problem[], warnings: Problem[] = []) {
    super(problems.map((p) => formatProblem(file, p)).join("\n"));
    this.name = "ConfigError";
    this.file = file;
    this.problems = problems;
    this.warnings = warnings;
  }
}

/** `FILE:line:col: path: message` (the compilers' form, which editors jump to); line and path where known. */
export function formatProblem(file: string, p: Problem): string {
  const f = p.file ?? file;
  const where = p.line !== undefined ? `${f}:${p.line}:${p.col ?? 1}` : f;
  return p.path === "" ? `${where}: ${p.message}` : `${where}: ${p.path}: ${p.message}`;
}

export type PathPart = string | number | symbol;

export function formatPath(parts: readonly PathPart[]): string {
  let out = "";
  for (const p of parts) {
    if (typeof p === "number") out += `[${p}]`;
    else if (typeof p === "string" && /^[A-Za-z_$][\w$]*$/.test(p)) out += out === "" ? p : `.${p}`;
    else out += `[${JSON.stringify(String(p))}]`;
  }
  return out;
}

/** A value as a message shows it: strings quoted, lists and mappings by kind. */
export function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return String(v);
}

/** Every problem of a failed load, one line each, then the count: what check-config prints and a reload logs. */
export function problemLines(err: ConfigError): string[] {
  const n = err.problems.length;
  return [
    ...err.problems.map((p) => formatProblem(err.file, p)),
    `${err.file}: ${n} problem${n === 1 ? "" : "s"}, config not valid`,
  ];
}
