// Runs node's built-in test runner (through tsx) over every *.test.ts under the
// given folders. Node 20's --test does not expand globs itself.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const dirs = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const passThrough = process.argv.slice(2).filter((a) => a.startsWith("--"));

function collect(dir) {
  if (!existsSync(dir)) return [];
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
  process.exit(1);
}
const args = ["--import", "tsx", "--test", "--test-reporter=spec", ...passThrough, ...files];
const res = spawnSync(process.execPath, args, { stdio: "inherit" });
process.exit(res.status ?? 1);
