// Secrets and other referenced files: every `fooFile` key is made absolute
// (relative to the config file) and `foo` is set to the file's content, or to
// the WATTKEEPER_* environment variable that overrides it. Secret values never
// appear in a problem.
import { readFile } from "node:fs/promises";
import { isAbsolute, resolve } from "node:path";
import { formatPath, type PathPart, type Problem } from "./problems.ts";
import { isPlainObject } from "./read.ts";
import type { Entries, Parsed } from "./sections.ts";

/** WATTKEEPER_ + the key's path in SCREAMING_SNAKE, without the File suffix. */
export function secretEnvName(path: readonly PathPart[]): string {
  const parts = path.map((p, i) => {
    let s = String(p);
    if (i === path.length - 1) s = s.replace(/File$/, "");
    return s.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();
  });
  return ["WATTKEEPER", ...parts].join("_");
}

export interface FileContext {
  dir: string;
  env: NodeJS.ProcessEnv;
  problems: Problem[];
  warnings: Problem[];
  strictFiles: boolean;
}

async function readReferenced(abs: string): Promise<{ text: string } | { error: string }> {
  try {
    return { text: (await readFile(abs, "utf8")).replace(/[\r\n]+$/, "") };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return { error: `file not found: ${abs}` };
    if (code === "EACCES" || code === "EPERM") return { error: `cannot read ${abs}: permission denied` };
    if (code === "EISDIR") return { error: `${abs} is a folder, not a file` };
    return { error: `cannot read ${abs}: ${code ?? (e as Error).message}` };
  }
}

/**
 * Walks a parsed section and, for every `fooFile` key, makes the path absolute and
 * sets `foo` to the file's content, or to the WATTKEEPER_* variable that wins over it.
 */
async function resolveFiles(node: unknown, path: PathPart[], ctx: FileContext): Promise<void> {
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) await resolveFiles(node[i], [...path, i], ctx);
    return;
  }
  if (!isPlainObject(node)) return;
  for (const key of Object.keys(node)) {
    const value = node[key];
    if (key.endsWith("File") && key.length > 4 && (typeof value === "string" || value === null)) {
      const target = key.slice(0, -4);
      const envName = secretEnvName([...path, key]);
      const fromEnv = ctx.env[envName];
      node[target] = null;
      if (typeof value === "string") node[key] = isAbsolute(value) ? value : resolve(ctx.dir, value);
      if (fromEnv !== undefined && fromEnv !== "") {
        node[target] = fromEnv;
        continue;
      }
      if (typeof value !== "string") continue;
      const r = await readReferenced(node[key] as string);
      if ("text" in r) node[target] = r.text;
      else {
        const p = { path: formatPath([...path, key]), message: `${r.error} (or set ${envName})` };
        (ctx.strictFiles ? ctx.problems : ctx.warnings).push(p);
      }
    } else if (typeof value === "object" && value !== null) {
      await resolveFiles(value, [...path, key], ctx);
    }
  }
}

/** Resolves the referenced files of every section that has them. */
export async function resolveSecrets(
  mqtt: Parsed["mqtt"],
  entries: Entries,
  ctx: FileContext,
): Promise<void> {
  if (mqtt) await resolveFiles(mqtt, ["mqtt"], ctx);
  for (const [i, g] of entries.gpuNodes.entries()) if (g) await resolveFiles(g, ["gpuNodes", i], ctx);
  // Credentials are resolved once per entry and shared by the miners it expands to.
  for (const [i, m] of entries.miners.entries()) {
    if (m?.credentials) await resolveFiles(m.credentials, ["miners", i, "credentials"], ctx);
  }
}
