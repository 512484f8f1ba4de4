// Where the package's data files live (meter profiles, miner models, package.json), found by
// walking up from this module to the folder holding package.json, so the same
// code works from the TypeScript sources and from the compiled dist/ tree.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export const PACKAGE_ROOT = findPackageRoot(dirname(fileURLToPath(import.meta.url)));
/** Meter register profiles: config/meters/<name>.yaml. */
export const METERS_DIR = join(PACKAGE_ROOT, "config", "meters");
/** Miner models: config/models/*.yaml. */
export const MODELS_DIR = join(PACKAGE_ROOT, "config", "models");
