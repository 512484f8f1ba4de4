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

/**
 * Under `npm start` the agent is npm's child: npm passes SIGTERM and SIGINT on
 * (the start script execs node, so no shell stands between them to swallow
 * them), but not SIGHUP, and nothing when npm itself is killed. An agent that
 * outlives its npm is one nobody can stop from that terminal, so when npm goes
 * the agent stops as on SIGTERM (cleanly: the tick finishes, the stores close).
 * Only for the scripts that run this file: a test runner's children keep their
 * own lifetimes.
 */
function stopWhenNpmGoes() {
  if (!process.env.npm_lifecycle_event) return;
  if (!/\bbin\/wattkeeper\.js\b/.test(process.env.npm_lifecycle_script ?? "")) return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    // a dead parent's children are adopted (by init or a subreaper): the parent pid changes
    if (process.ppid === parent) return;
    clearInterval(timer);
    process.stderr.write(`wattkeeper: npm (pid ${parent}) has gone: stopping\n`);
    process.kill(process.pid, "SIGTERM");
  }, 250);
  timer.unref();
}

stopWhenNpmGoes();

if (freshBuild()) {
  await import(DIST_ENTRY.href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../agent/entry.ts");
}
