// Integration and peer test files bind simulated miners and servers on
// loopback addresses (127.X.Y.Z, port 4028 and others). `npm test` runs two
// files at once, so two files in the same 127.X block could take the same
// address:port and fail with EADDRINUSE only when they happen to overlap. Each
// file owns its own block (the second octet); this test says who, when two
// files share one. 127.0.x (ports from testPort) is for everyone.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";

const DIRS = ["integration", "contract", "peers"];

test("each integration and peer test file has a loopback block of its own", () => {
  const owners = new Map<string, string[]>();
  for (const dir of DIRS) {
    const root = new URL(`../${dir}/`, import.meta.url);
    for (const name of readdirSync(root).filter((n) => n.endsWith(".ts"))) {
      const text = readFileSync(new URL(name, root), "utf8");
      const blocks = new Set(
        [...text.matchAll(/\b127\\?\.(\d{1,3})\\?\.\d{1,3}\\?\.\d{1,3}/g)].map((m) => m[1]!),
      );
      blocks.delete("0");
      for (const b of blocks) owners.set(b, [...(owners.get(b) ?? []), `${dir}/${name}`]);
    }
  }
  const shared = [...owners].filter(([, files]) => files.length > 1);
  assert.deepEqual(
    shared.map(([b, files]) => `127.${b}.x.x: ${files.join(", ")}`),
    [],
    "give one of them a free block",
  );
});
