// The design's rules between the parts (docs/design.md, "Rules between the parts"), checked
// on the import graph madge builds, so a change that breaks one fails CI instead of waiting
// for a reviewer to notice. Cycles are `npm run cycles` (madge too).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { before, describe, test } from "node:test";
import madge from "madge";

type Graph = Record<string, string[]>;

const TREES = ["agent", "drivers", "config", "sim"];
/** What the simulator may take from drivers/: shared data contracts, never a codec. */
const SIM_MAY_IMPORT = new Set(["drivers/types.ts", "drivers/modbus/profile.ts"]);

async function graph(skipTypeImports: boolean): Promise<Graph> {
  const r = await madge(TREES, {
    fileExtensions: ["ts"],
    tsConfig: "tsconfig.json",
    detectiveOptions: { ts: { skipTypeImports }, tsx: { skipTypeImports } },
  });
  return r.obj();
}

function edges(g: Graph, from: (f: string) => boolean, to: (d: string) => boolean): string[] {
  const out: string[] = [];
  for (const [f, deps] of Object.entries(g)) {
    if (!from(f)) continue;
    for (const d of deps) if (to(d)) out.push(`${f} → ${d}`);
  }
  return out;
}

function closure(g: Graph, root: string): Set<string> {
  const seen = new Set<string>([root]);
  const todo = [root];
  while (todo.length > 0) {
    for (const d of g[todo.pop()!] ?? []) {
      if (!seen.has(d)) {
        seen.add(d);
        todo.push(d);
      }
    }
  }
  return seen;
}

describe("dependency rules", () => {
  let all: Graph;
  let values: Graph;
  before(async () => {
    all = await graph(false);
    values = await graph(true);
  });

  test("the graph covers the trees (madge read them)", () => {
    for (const f of ["agent/entry.ts", "drivers/types.ts", "config/schema.ts", "sim/site.ts"])
      assert.ok(all[f], `${f} in the graph`);
  });

  test("drivers import nothing from agent/, config/ or sim/ (types included)", () => {
    assert.deepEqual(
      edges(
        all,
        (f) => f.startsWith("drivers/"),
        (d) => /^(agent|config|sim)\//.test(d),
      ),
      [],
    );
  });

  test("the HTTP and MQTT channels never import a driver", () => {
    assert.deepEqual(
      edges(
        values,
        (f) => /^agent\/(http|mqtt)\//.test(f),
        (d) => d.startsWith("drivers/"),
      ),
      [],
    );
  });

  test("only agent/cli wires the simulator in; drivers never", () => {
    assert.deepEqual(
      edges(
        all,
        (f) => f.startsWith("drivers/") || (f.startsWith("agent/") && !f.startsWith("agent/cli/")),
        (d) => d.startsWith("sim/"),
      ),
      [],
    );
  });

  test("the simulator uses no driver code: its own encoders, shared data contracts only", () => {
    assert.deepEqual(
      edges(
        all,
        (f) => f.startsWith("sim/"),
        (d) => d.startsWith("drivers/") && !SIM_MAY_IMPORT.has(d),
      ),
      [],
    );
  });

  test("exports never call a driver or the control loop", () => {
    assert.deepEqual(
      edges(
        values,
        (f) => f.startsWith("agent/exports/"),
        (d) => d.startsWith("drivers/") || d === "agent/control/loop.ts",
      ),
      [],
    );
  });

  test("the policy and the budget do no I/O: nothing but pure modules and zod below them", () => {
    for (const root of ["agent/control/policy.ts", "agent/control/budget.ts"]) {
      for (const f of closure(values, root)) {
        const src = readFileSync(f, "utf8");
        const io = [...src.matchAll(/^import (?!type )[^;]*?from "([^".][^"]*)"/gm)]
          .map((m) => m[1]!)
          .filter((p) => p !== "zod");
        assert.deepEqual(io, [], `${f} (under ${root}) imports ${io.join(", ")}`);
      }
    }
  });
});
