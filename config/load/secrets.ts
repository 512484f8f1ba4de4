// Secrets and other referenced files: every `fooFile` key is made absolute
// (relative to the config file) and `foo` is set to the file's content, or to
// the WATTKEEPER_* environment variable that overrides it. Secret values never
// appear in a problem.
import { isAbsolute, resolve } from "node:path";
import { MAX_SECRET_BYTES, readBounded } from "./bounded-read.ts";
import { formatPath, type PathPart, type Problem } from "./problems.ts";
import { isPlainObject } from "./read.ts";
import type { Entries, Parsed } from "./sections.ts";

/** WATTKEEPER_ + the key's path in SCREAMING_SNAKE, without the File suffix. */
function secretEnvName(path: readonly PathPart[]): string {
  const parts = path.map((p, i) => {
    let s = String(p);
    if (i === path.length - 1) s = s.replace(/File$/, "");
    return s.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();
  });
  return ["WATTKEEPER", ...parts].join("_");
}

interface FileContext {
  dir: string;
  env: NodeJS.ProcessEnv;
  problems: Problem[];
  warnings: Problem[];
  strictFiles: boolean;
}

/** A secret or key file: a regular file of at most 64 KiB, read under a deadline (a FIFO or /dev/zero is refused). */
async function readReferenced(abs: string): Promise<{ text: string } | { error: string }> {
  const r = await readBounded(abs, { maxBytes: MAX_SECRET_BYTES });
  return "text" in r ? { text: r.text.replace(/[\r\n]+$/, "") } : { error: r.error };
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
export interface SecretSections {
  mqtt: Parsed["mqtt"];
  entries: Entries;
  ctx: FileContext;
  signals?: Parsed["signals"];
  exports?: Parsed["exports"];
  http?: Parsed["http"];
}

export async function resolveSecrets({
  mqtt,
  entries,
  ctx,
  signals = null,
  exports = null,
  http = null,
}: SecretSections): Promise<void> {
  if (mqtt) await resolveFiles(mqtt, ["mqtt"], ctx);
  if (http?.tls) await resolveFiles(http.tls, ["http", "tls"], ctx);
  if (signals) await resolveFiles(signals, ["signals"], ctx);
  if (exports) await resolveFiles(exports, ["exports"], ctx);
  for (const [i, g] of entries.gpuNodes.entries()) if (g) await resolveFiles(g, ["gpuNodes", i], ctx);
  // Credentials are resolved once per entry and shared by the miners it expands to.
  for (const [i, m] of entries.miners.entries()) {
    if (m?.credentials) await resolveFiles(m.credentials, ["miners", i, "credentials"], ctx);
  }
}
