// Runs node's built-in test runner (through tsx) over every *.test.ts under the
// given folders (or the files named). Node 20's --test does not expand globs itself.
// Builds dist/ first when it is missing or older than the sources: the tests that
// start the real CLI run bin/wattkeeper.js, which runs dist/ only (one build here
// rather than one per parallel test file).
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "../scripts/build.mjs";

const args = process.argv.slice(2);
// --allow-empty: a suite whose tests land with a later issue (peers, browser) passes while empty
const allowEmpty = args.includes("--allow-empty");
const dirs = args.filter((a) => !a.startsWith("--"));
const passThrough = args.filter((a) => a.startsWith("--") && a !== "--allow-empty");

function collect(dir) {
  if (!existsSync(dir)) return [];
  // a file named on the command line runs as it is
  if (!statSync(dir).isDirectory()) return [dir];
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...collect(path));
    else if (name.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

const files = dirs.flatMap(collect);
if (files.length === 0) {
  console.error(`no test files under: ${dirs.join(", ")}`);
  process.exit(allowEmpty ? 0 : 1);
}
try {
  await build({ ifStale: true });
} catch (err) {
  console.error(`test: cannot build dist/: ${err.message}`);
  process.exit(1);
}
const ROOT = resolve(fileURLToPath(import.meta.url), "../..");
const scratch = mkdtempSync(join(tmpdir(), "wk-test-run-"));
const figuresFile = join(scratch, "summary.json");
const nodeArgs = [
  "--import",
  "tsx",
  "--test",
  "--test-reporter=spec",
  "--test-reporter-destination=stdout",
  `--test-reporter=${join(ROOT, "test", "summary-reporter.mjs")}`,
  `--test-reporter-destination=${figuresFile}`,
  ...passThrough,
  ...files,
];
const startedAt = Date.now();
const res = spawnSync(process.execPath, nodeArgs, { stdio: "inherit" });
saveSummary();
rmSync(scratch, { recursive: true, force: true });
process.exit(res.status ?? 1);

/** What ran and how it went, for scripts/readme-tests.mjs (.state/ is not tracked). */
function saveSummary() {
  let figures;
  try {
    figures = JSON.parse(readFileSync(figuresFile, "utf8"));
  } catch {
    return; // the runner died before its summary: nothing to report
  }
  // the last one given wins, as it does for node itself (`npm test -- --test-concurrency=4`)
  const concurrency = passThrough.findLast((a) => a.startsWith("--test-concurrency="))?.split("=")[1];
  const summary = {
    at: new Date(startedAt).toISOString(),
    folders: dirs.map((d) => relative(ROOT, resolve(d))),
    files: files.length,
    concurrency: concurrency ? Number(concurrency) : null,
    cores: availableParallelism(),
    exitCode: res.status,
    wallMs: Date.now() - startedAt,
    ...figures,
  };
  mkdirSync(join(ROOT, ".state"), { recursive: true });
  writeFileSync(join(ROOT, ".state", "test-summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
}
