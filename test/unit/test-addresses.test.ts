// Integration and peer test files bind simulated miners and servers on
// loopback addresses (127.X.Y.Z, port 4028 and others). `npm test` runs several
// files at once, so two files in the same 127.X block could take the same
// address:port and fail with EADDRINUSE only when they happen to overlap. Each
// file owns its own block (the second octet); this test says who, when two
// files share one. An address counts written whole or as a prefix the file
// completes ("127.45.0" + `${i}`), and the bench modules a test file runs
// (bench/flood-run.ts) count as that file's. 127.0.x (ports from testPort) is
// for everyone.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const TEST_ROOT = fileURLToPath(new URL("../", import.meta.url));
const DIRS = ["integration", "contract", "peers"];

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = `${dir}/${name}`;
    if (statSync(path).isDirectory()) return tsFiles(path);
    return name.endsWith(".ts") ? [path] : [];
  });
}

function blocksIn(text: string): Set<string> {
  // two octets after 127 name the block: "127.45.0.1", "127.45.0" and `127.45.0.${i}` alike
  const blocks = new Set([...text.matchAll(/\b127\\?\.(\d{1,3})\\?\.\d{1,3}/g)].map((m) => m[1]!));
  blocks.delete("0");
  return blocks;
}

test("each integration and peer test file has a loopback block of its own", () => {
  const owners = new Map<string, string[]>();
  for (const dir of DIRS) {
    for (const path of tsFiles(`${TEST_ROOT}${dir}`)) {
      const text = readFileSync(path, "utf8");
      const blocks = blocksIn(text);
      // the bench modules it runs bind addresses on its behalf
      for (const m of text.matchAll(/from "((?:\.\.\/)+bench\/[\w-]+\.ts)"/g)) {
        const bench = fileURLToPath(new URL(m[1]!, `file://${path}`));
        if (existsSync(bench)) for (const b of blocksIn(readFileSync(bench, "utf8"))) blocks.add(b);
      }
      const name = path.slice(TEST_ROOT.length);
      for (const b of blocks) owners.set(b, [...(owners.get(b) ?? []), name]);
    }
  }
  const shared = [...owners].filter(([, files]) => files.length > 1);
  assert.deepEqual(
    shared.map(([b, files]) => `127.${b}.x.x: ${files.join(", ")}`),
    [],
    "give one of them a free block",
  );
});
