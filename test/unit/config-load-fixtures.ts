// Shared fixtures of the config-loader tests: a scratch folder, the minimal
// config to break, a writer of configs and side files, and problemsOf.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after } from "node:test";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import { ConfigError, loadConfig, type Problem } from "../../config/load.ts";

export const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const examples = join(repo, "config", "examples");
// one scratch folder per test file (each file runs in its own process), removed after it
export const tmp = mkdtempSync(join(tmpdir(), "wk-config-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

// biome-ignore lint/suspicious/noExplicitAny: tests build and break configs of any shape
export type Cfg = Record<string, any>;
export const base = (): Cfg =>
  YAML.parse(readFileSync(join(repo, "test/fixtures/config/minimal.yaml"), "utf8"));

let n = 0;
/** Writes a config (object → YAML, string as is) and any side files into a fresh folder. */
export function write(
  content: Cfg | string,
  opts: { ext?: string; files?: Record<string, string> } = {},
): string {
  const dir = join(tmp, `c${n++}`);
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(opts.files ?? {})) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  const file = join(dir, `site${opts.ext ?? ".yaml"}`);
  writeFileSync(file, typeof content === "string" ? content : YAML.stringify(content));
  return file;
}

export async function problemsOf(
  file: string,
  opts: { strictFiles?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<Problem[]> {
  try {
    await loadConfig(file, { env: {}, ...opts });
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    return e.problems;
  }
  assert.fail("expected the config to be rejected");
}

export interface BadCase {
  name: string;
  edit?: (c: Cfg) => void;
  text?: string;
  ext?: string;
  strictFiles?: boolean;
  path: string;
  message: string | RegExp;
  /** The line the problem must carry, where the source has one. */
  line?: number;
}

export const sched = (over: Cfg) => ({ name: "peak", from: "15:00", to: "18:00", budgetW: "5MW", ...over });
export const gpu = (over: Cfg) => ({
  id: "gpu-01",
  host: "10.2.0.11",
  user: "wk",
  privateKeyFile: "/etc/wk/id",
  hostKeySha256: "SHA256:Vc9X5d2mLJm9m0d0yqZ3r0G2n6b1mQh1fN8n4b3QeWk",
  floorW: 350,
  ...over,
});
