// The compactor: V8's memory-saving mode for a full GC now and then, off
// again once it has run; and that the mode really makes a full GC give back a
// fragmented heap's pages (in a child, so this test process keeps V8's defaults).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import { type CompactorDeps, memoryModeGiven, startCompactor } from "../../agent/runtime/compactor.ts";

/** Deps driven by hand: the timer fires and full GCs run when the test says. */
function manualDeps() {
  const flags: string[] = [];
  let tick: (() => void) | null = null;
  let major: (() => void) | null = null;
  const deps: CompactorDeps = {
    setFlag: (f) => flags.push(f),
    watchMajorGc(onMajor) {
      major = onMajor;
      return () => {
        major = null;
      };
    },
    every(_ms, fn) {
      tick = fn;
      return () => {
        tick = null;
      };
    },
  };
  return {
    deps,
    flags,
    tick: () => tick?.(),
    majorGc: () => major?.(),
    get watching() {
      return major !== null;
    },
    get ticking() {
      return tick !== null;
    },
  };
}

describe("compactor", () => {
  test("the memory-saving mode goes on at each period and off after the next full GC", () => {
    const m = manualDeps();
    const c = startCompactor({ execArgv: [], deps: m.deps })!;
    assert.deepEqual(m.flags, []);
    m.tick();
    assert.deepEqual(m.flags, ["--optimize_for_size"]);
    assert.ok(m.watching);
    m.majorGc();
    assert.deepEqual(m.flags, ["--optimize_for_size", "--no-optimize_for_size"]);
    assert.equal(c.compactions, 1);
    assert.ok(!m.watching, "no GC watch while the mode is off");
    // a full GC with the mode off is not counted
    m.majorGc();
    assert.equal(c.compactions, 1);
    m.tick();
    m.majorGc();
    assert.equal(c.compactions, 2);
    assert.equal(m.flags.length, 4);
  });

  test("a period with no full GC leaves the mode on, not set twice", () => {
    const m = manualDeps();
    startCompactor({ execArgv: [], deps: m.deps });
    m.tick();
    m.tick();
    assert.deepEqual(m.flags, ["--optimize_for_size"]);
  });

  test("stop() leaves V8 in its default mode and stops the timer", () => {
    const m = manualDeps();
    const c = startCompactor({ execArgv: [], deps: m.deps })!;
    m.tick();
    c.stop();
    assert.deepEqual(m.flags, ["--optimize_for_size", "--no-optimize_for_size"]);
    assert.ok(!m.ticking && !m.watching);
    c.stop();
    assert.equal(m.flags.length, 2);
  });

  test("an operator's own choice of the mode on the node command line stands", () => {
    assert.ok(memoryModeGiven(["--optimize-for-size"]));
    assert.ok(memoryModeGiven(["--no-optimize_for_size"]));
    assert.ok(!memoryModeGiven(["--max-semi-space-size=4", "--optimize-for-sizes"]));
    const m = manualDeps();
    assert.equal(startCompactor({ execArgv: ["--optimize-for-size"], deps: m.deps }), null);
    assert.ok(!m.ticking);
  });

  test("in V8 the mode makes a full GC give back the pages of a fragmented old generation", () => {
    // what the compactor relies on, checked against the node that runs it: an old generation
    // whose pages are each about half free (as a sweep leaves them), then one more full GC with
    // and without the mode. V8's default mode leaves such pages be; candidates are chosen from
    // the previous marking, so the heap is collected twice before. In a function: what the
    // top level of `node -e` binds stays reachable.
    const script = `(() => {
      const v8 = require("node:v8");
      const old = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === "old_space").space_size;
      let all = [];
      for (let i = 0; i < 300000; i++) all.push({ i, s: "x" + i, a: [i] });
      gc(); gc();
      const kept = all.filter((_, i) => i % 2 === 0);
      all = null;
      gc(); gc();
      if (process.argv[1] === "on") v8.setFlagsFromString("--optimize-for-size");
      gc();
      // kept is read last, so it stays reachable through every collection above
      process.stdout.write(String(old() + kept.length * 0));
    })();`;
    const committed = (mode: string) => {
      const r = spawnSync(process.execPath, ["--expose-gc", "-e", script, mode], { encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      return Number(r.stdout);
    };
    const off = committed("off");
    const on = committed("on");
    assert.ok(on < off * 0.85, `old space committed: ${on} bytes with the mode, ${off} without`);
  });
});
