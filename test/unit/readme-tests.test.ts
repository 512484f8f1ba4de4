// scripts/readme-tests.mjs: the README's line about the suite comes from the
// runner's summary of a whole, passing run, and from nothing else.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

const SCRIPT = new URL("../../scripts/readme-tests.mjs", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "wk-readme-tests-"));
const readme = join(dir, "README.md");
const summaryFile = join(dir, "summary.json");

const whole = {
  at: "2026-12-05T01:00:00.000Z",
  folders: ["test/unit", "test/contract", "test/integration"],
  files: 150,
  concurrency: 4,
  cores: 2,
  exitCode: 0,
  tests: 1165,
  pass: 1165,
  fail: 0,
  duration_ms: 284_251,
};

function run(summary: object, text: string) {
  writeFileSync(summaryFile, JSON.stringify(summary));
  writeFileSync(readme, text);
  const res = spawnSync(process.execPath, [SCRIPT, "--readme", readme, "--summary", summaryFile], {
    encoding: "utf8",
    timeout: 30_000,
  });
  return { code: res.status, err: res.stderr, text: readFileSync(readme, "utf8") };
}

const TEXT = "before <!-- tests:begin -->old figures<!-- tests:end --> after\n";

test("a whole passing run rewrites only the marked line", () => {
  const r = run(whole, TEXT);
  assert.equal(r.code, 0, r.err);
  assert.equal(
    r.text,
    "before <!-- tests:begin -->The last full run (2026-12-05): 1,165 tests in 150 files, all passing, " +
      "in 4 min 44 s on 2 cores (4 files at a time).<!-- tests:end --> after\n",
  );
});

test("a partial run, a failing run or a README without the marks changes nothing", () => {
  for (const [summary, text, why] of [
    [{ ...whole, folders: ["test/unit"] }, TEXT, /not the whole suite/],
    [{ ...whole, fail: 1, pass: 1164, exitCode: 1 }, TEXT, /did not pass/],
    [whole, "no marks here\n", /has no <!-- tests:begin -->/],
  ] as const) {
    const r = run(summary, text);
    assert.equal(r.code, 1);
    assert.match(r.err, why);
    assert.equal(r.text, text);
  }
});
