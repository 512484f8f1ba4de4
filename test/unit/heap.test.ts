// Heap sizing: the agent sets V8's growing factor and page promotion unless the
// operator's node command line already sets them; the young generation's size is
// on the command line it is installed with.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import {
  AGENT_GC_FLAGS,
  AGENT_MALLOC_ENV,
  AGENT_NODE_FLAGS,
  BURST_GROWING_PERCENT,
  BURST_MIN_COMMANDS,
  gcFlagsToSet,
  HEAP_GROWING_PERCENT,
  HeapBurst,
} from "../../agent/runtime/heap.ts";

describe("tuneHeap", () => {
  test("an operator's GC flag on the node command line wins, in either spelling", () => {
    assert.deepEqual(AGENT_GC_FLAGS, ["--heap-growing-percent=20", "--no-page-promotion"]);
    assert.deepEqual(gcFlagsToSet(["--enable-source-maps", "--heap-growing-percent=80"]), [
      "--no-page-promotion",
    ]);
    assert.deepEqual(gcFlagsToSet(["--heap_growing_percent=20"]), ["--no-page-promotion"]);
    // the operator's own choice of page promotion, either way, is theirs too
    assert.deepEqual(gcFlagsToSet(["--page-promotion"]), ["--heap-growing-percent=20"]);
    assert.deepEqual(gcFlagsToSet(["--no-page_promotion", "--heap-growing-percent=50"]), []);
    assert.deepEqual(gcFlagsToSet(["--max-semi-space-size=8"]), AGENT_GC_FLAGS);
  });

  test("otherwise the flags are set in this process's V8", () => {
    // in a child, so this test process keeps V8's defaults
    const r = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "--input-type=module",
        "-e",
        `import { tuneHeap } from "${new URL("../../agent/runtime/heap.ts", import.meta.url).pathname}";
         process.stdout.write(tuneHeap([]).join(" "));`,
      ],
      { encoding: "utf8" },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, AGENT_GC_FLAGS.join(" "));
  });
});

describe("HeapBurst", () => {
  test("a shed of many commands relaxes the growing percent the agent set, until the last burst's commands are out", () => {
    const set: string[] = [];
    const burst = new HeapBurst(true, (f) => set.push(f));
    burst.begin(BURST_MIN_COMMANDS - 1)(); // a small tick: nothing
    assert.deepEqual(set, []);
    const endA = burst.begin(BURST_MIN_COMMANDS);
    const endB = burst.begin(20_000);
    assert.deepEqual(set, [`--heap-growing-percent=${BURST_GROWING_PERCENT}`]);
    endA();
    endA(); // a second call is no second end
    assert.equal(set.length, 1, "burst B's commands are still going out");
    endB();
    assert.deepEqual(set, [
      `--heap-growing-percent=${BURST_GROWING_PERCENT}`,
      `--heap-growing-percent=${HEAP_GROWING_PERCENT}`,
    ]);
  });

  test("a growing percent from the operator's command line is never touched", () => {
    const set: string[] = [];
    new HeapBurst(false, (f) => set.push(f)).begin(20_000)();
    assert.equal(set.length, 0);
    HeapBurst.after(gcFlagsToSet(["--heap-growing-percent=50"]), (f) => set.push(f)).begin(20_000)();
    assert.equal(set.length, 0, "the command line's percent stands");
    HeapBurst.after(gcFlagsToSet([]), (f) => set.push(f)).begin(20_000)();
    assert.equal(set.length, 2, "tuneHeap's own percent is relaxed and put back");
  });
});

describe("the node flags the agent is installed with", () => {
  const root = new URL("../../", import.meta.url);
  const unit = readFileSync(new URL("systemd/wattkeeper.service", root), "utf8");
  const docker = readFileSync(new URL("Dockerfile", root), "utf8");
  test("the systemd unit and the Dockerfile start node with AGENT_NODE_FLAGS", () => {
    const execStart = /^ExecStart=(.*)$/m.exec(unit)?.[1] ?? "";
    const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(docker)?.[1] ?? "[]") as string[];
    // those and no other: the soak and the bench start the agent with AGENT_NODE_FLAGS, so a flag
    // only the unit has (--enable-source-maps held 4 MiB of heap) would go unmeasured
    const nodeFlags = (args: string[]) =>
      args.slice(
        1,
        args.findIndex((a) => a.endsWith("entry.js")),
      );
    assert.deepEqual(nodeFlags(execStart.split(" ")), AGENT_NODE_FLAGS);
    assert.deepEqual(nodeFlags(entrypoint), AGENT_NODE_FLAGS);
    for (const flag of AGENT_NODE_FLAGS) {
      assert.ok(execStart.split(" ").includes(flag), `ExecStart lacks ${flag}: ${execStart}`);
      assert.ok(entrypoint.includes(flag), `ENTRYPOINT lacks ${flag}: ${entrypoint.join(" ")}`);
      // a node flag: before the script, or node would hand it to the agent
      assert.ok(execStart.indexOf(flag) < execStart.indexOf("entry.js"));
      assert.ok(entrypoint.indexOf(flag) < entrypoint.findIndex((a) => a.endsWith("entry.js")));
    }
  });

  test("the systemd unit and the Dockerfile set glibc's allocator as AGENT_MALLOC_ENV", () => {
    // the runtime stage's ENV (the last FROM), its continuation lines joined
    const runtime = docker.slice(docker.lastIndexOf("\nFROM ")).replace(/\\\n\s*/g, " ");
    const env = /^ENV (.*)$/m.exec(runtime)?.[1]?.split(/\s+/) ?? [];
    for (const [name, value] of Object.entries(AGENT_MALLOC_ENV)) {
      assert.match(unit, new RegExp(`^Environment=${name}=${value}$`, "m"));
      assert.ok(env.includes(`${name}=${value}`), `the image's ENV lacks ${name}=${value}: ${env.join(" ")}`);
    }
  });
});
