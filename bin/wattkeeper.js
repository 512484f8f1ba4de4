#!/usr/bin/env node
// Entry point for `npx wattkeeper` / `npm start`. Runs the compiled tree
// (`npm run build` → dist/, plain node, no loader thread) when it is there and
// not older than the sources; otherwise registers the TypeScript loader (tsx,
// a runtime dependency) and runs the sources, so an edit is never shadowed by
// a stale build. An install without sources (the Docker image) always runs dist/.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DIST_ENTRY = new URL("../dist/agent/entry.js", import.meta.url);
const SOURCE_DIRS = ["agent", "drivers", "config", "sim"];

/** Newest modification time (ms) of the files under the source folders. */
function newestSourceMs(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) newest = Math.max(newest, newestSourceMs(path));
    else if (entry.isFile()) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function freshBuild() {
  if (!existsSync(DIST_ENTRY)) return false;
  if (!existsSync(`${ROOT}agent/entry.ts`)) return true; // no sources to be stale against
  try {
    const { startedAtMs } = JSON.parse(readFileSync(`${ROOT}dist/build-info.json`, "utf8"));
    const dirs = SOURCE_DIRS.map((d) => `${ROOT}${d}`).filter((d) => existsSync(d));
    if (Math.max(...dirs.map(newestSourceMs)) < startedAtMs) return true;
  } catch {
    // no or unreadable stamp: treat the build as stale
  }
  process.stderr.write("wattkeeper: dist/ is older than the sources; running the sources (npm run build)\n");
  return false;
}

if (freshBuild()) {
  await import(DIST_ENTRY.href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../agent/entry.ts");
}
