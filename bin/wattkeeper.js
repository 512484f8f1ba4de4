#!/usr/bin/env node
// Entry point for `npx wattkeeper` / `npm start`: runs the compiled tree in dist/
// (plain node, no loader). In a checkout (the sources and scripts/build.mjs are
// here) it first rebuilds dist/ when the sources changed since the last build (a
// fingerprint check of a few ms; esbuild takes a second or two when it must), so
// an edit is never shadowed by a stale build and a fresh clone needs no separate
// build step. An install without sources (the Docker image) runs dist/ as it is.
import { existsSync } from "node:fs";

const DIST_ENTRY = new URL("../dist/agent/entry.js", import.meta.url);
const BUILD_SCRIPT = new URL("../scripts/build.mjs", import.meta.url);
const SOURCE_ENTRY = new URL("../agent/entry.ts", import.meta.url);

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

if (existsSync(SOURCE_ENTRY) && existsSync(BUILD_SCRIPT)) {
  const { build } = await import(BUILD_SCRIPT.href);
  try {
    // build messages on stderr: stdout is the CLI's own (`--version`, `hash-password`, JSON)
    await build({ ifStale: true, log: (line) => process.stderr.write(line) });
  } catch (err) {
    if (!(err.environment && existsSync(DIST_ENTRY))) {
      process.stderr.write(`wattkeeper: cannot build dist/: ${err.message}\n`);
      process.exit(1);
    }
    // an install that keeps its sources but not the dev dependencies (a gateway after npm prune)
    process.stderr.write(
      `wattkeeper: dist/ may be older than the sources and cannot be rebuilt here (${err.message}): running it as it is\n`,
    );
  }
}
if (!existsSync(DIST_ENTRY)) {
  process.stderr.write("wattkeeper: dist/agent/entry.js is missing: run `npm run build`\n");
  process.exit(1);
}
await import(DIST_ENTRY.href);
