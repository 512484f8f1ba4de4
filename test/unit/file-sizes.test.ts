// Small modules with one job each: no source file over 400 lines. Generated code
// (the Braiins protobuf classes) and the status page's scripts, which the browser
// loads as they are, are the exceptions.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

const ROOT = new URL("../../", import.meta.url).pathname;
const TREES = ["agent", "drivers", "config", "sim", "bench", "test", "scripts", "bin"];
const MAX_LINES = 400;
const EXEMPT = [/^drivers\/cgminer\/dialects\/braiins\/gen\//, /^agent\/http\/public\//];

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory()) {
      if (e.name !== "node_modules") out.push(...sources(path));
    } else if (/\.(ts|mjs|js)$/.test(e.name) && !e.name.endsWith(".d.ts")) out.push(path);
  }
  return out;
}

test(`no source file over ${MAX_LINES} lines (generated code and the page scripts aside)`, () => {
  const long = TREES.flatMap(sources)
    .filter((p) => !EXEMPT.some((re) => re.test(p)))
    .map((p) => ({ p, lines: readFileSync(join(ROOT, p), "utf8").split("\n").length - 1 }))
    .filter((f) => f.lines > MAX_LINES)
    .map((f) => `${f.p} (${f.lines})`);
  assert.deepEqual(long, []);
});
