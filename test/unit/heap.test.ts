// Heap sizing: the agent sets V8's growing factor unless the operator's node
// command line already does.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import { tuneHeap } from "../../agent/runtime/heap.ts";

describe("tuneHeap", () => {
  test("an operator's --heap-growing-percent on the node command line wins", () => {
    assert.equal(tuneHeap(["--enable-source-maps", "--heap-growing-percent=80"]), false);
    assert.equal(tuneHeap(["--heap_growing_percent=20"]), false);
  });

  test("otherwise the flag is set in this process's V8", () => {
    // in a child, so this test process keeps V8's defaults
    const r = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "--input-type=module",
        "-e",
        `import { tuneHeap } from "${new URL("../../agent/runtime/heap.ts", import.meta.url).pathname}";
         process.stdout.write(String(tuneHeap([])));`,
      ],
      { encoding: "utf8" },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "true");
  });
});
