// `npm run readme:tests`: writes the README's line about the test suite (how many
// tests, how long, on how many cores) from the last full run's summary, which
// test/run.mjs keeps in .state/test-summary.json, so the figures are measured, not
// typed. The line sits between `<!-- tests:begin -->` and `<!-- tests:end -->`.
// Refuses a summary of a partial run or a run with failures.
//
//   npm test && npm run readme:tests
//   node scripts/readme-tests.mjs [--readme FILE] [--summary FILE]
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** The folders `npm test` runs: a summary of fewer is not the suite's. */
const SUITE = ["test/unit", "test/contract", "test/integration"];
const BEGIN = "<!-- tests:begin -->";
const END = "<!-- tests:end -->";

const { values } = parseArgs({
  options: {
    readme: { type: "string", default: join(ROOT, "README.md") },
    summary: { type: "string", default: join(ROOT, ".state", "test-summary.json") },
  },
});

function fail(message) {
  process.stderr.write(`readme-tests: ${message}\n`);
  process.exit(1);
}

const count = (n) => n.toLocaleString("en-US");

/** "4 min 50 s" / "48 s" */
function duration(ms) {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
}

let summary;
try {
  summary = JSON.parse(readFileSync(values.summary, "utf8"));
} catch (err) {
  fail(`no test summary at ${values.summary} (${err.code ?? err.message}): run \`npm test\` first`);
}
const missing = SUITE.filter((f) => !summary.folders?.includes(f));
if (missing.length > 0)
  fail(`the last run was not the whole suite (missing ${missing.join(", ")}): run \`npm test\``);
if (summary.exitCode !== 0 || summary.fail !== 0 || !(summary.tests > 0)) {
  fail(`the last run did not pass (exit ${summary.exitCode}, ${summary.fail} failed of ${summary.tests})`);
}

const line =
  `${BEGIN}The last full run (${summary.at.slice(0, 10)}): ${count(summary.tests)} tests in ${summary.files} files, ` +
  `all passing, in ${duration(summary.duration_ms)} on ${summary.cores} cores` +
  (summary.concurrency ? ` (${summary.concurrency} files at a time)` : "") +
  `.${END}`;

const readme = readFileSync(values.readme, "utf8");
const start = readme.indexOf(BEGIN);
const stop = readme.indexOf(END);
if (start < 0 || stop < start) fail(`${values.readme} has no ${BEGIN} … ${END} line`);
const next = readme.slice(0, start) + line + readme.slice(stop + END.length);
if (next === readme) {
  process.stdout.write("readme-tests: README already current\n");
} else {
  writeFileSync(values.readme, next);
  process.stdout.write(`readme-tests: ${line.slice(BEGIN.length, -END.length)}\n`);
}
