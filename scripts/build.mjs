// `npm run build`: compiles the TypeScript tree with tsc (tsconfig.build.json)
// and copies what tsc does not emit, so the output runs with plain `node`:
// meter profiles, miner models, example configs, the config JSON schema and the status
// page's static assets. The output gets its own package.json, which makes it
// the package root that config/paths.ts finds (meter profiles, version), and a
// build-info.json stamp that bin/wattkeeper.js compares with the sources'
// modification times so it never runs a stale build.
//
//   node scripts/build.mjs [--out DIR]     (default: dist)
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({ options: { out: { type: "string", default: "dist" } } });
const OUT = resolve(ROOT, values.out);
const STAMP = "build-info.json";

/** Non-TypeScript files the running agent reads, relative to the repository root. */
const ASSETS = [
  "config/meters",
  "config/models",
  "config/examples",
  "config/wattkeeper.schema.json",
  "agent/http/public",
];
/** Assets that may not exist yet (another issue adds them): copied when present. */
const OPTIONAL = new Set(["agent/http/public"]);

function fail(message) {
  process.stderr.write(`build: ${message}\n`);
  process.exit(1);
}

// Only ever delete a folder this script made: never the repository or a folder above it.
const rel = relative(OUT, ROOT);
if (rel === "" || !rel.startsWith("..")) fail(`refusing to build into ${OUT}: it holds the sources`);
if (existsSync(OUT) && readdirSync(OUT).length > 0 && !existsSync(join(OUT, STAMP))) {
  fail(`refusing to clear ${OUT}: not empty and not an earlier build (no ${STAMP})`);
}

const startedAt = Date.now();
rmSync(OUT, { recursive: true, force: true });
const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
const res = spawnSync(process.execPath, [tsc, "-p", join(ROOT, "tsconfig.build.json"), "--outDir", OUT], {
  stdio: "inherit",
});
if (res.status !== 0) fail(`tsc failed (exit ${res.status ?? res.signal})`);

for (const asset of ASSETS) {
  const from = join(ROOT, asset);
  if (!existsSync(from)) {
    if (OPTIONAL.has(asset)) continue;
    fail(`missing asset ${asset}`);
  }
  mkdirSync(dirname(join(OUT, asset)), { recursive: true });
  cpSync(from, join(OUT, asset), { recursive: true });
}

const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
const distPkg = {
  name: pkg.name,
  version: pkg.version,
  description: pkg.description,
  license: pkg.license,
  type: pkg.type,
  private: true,
  engines: pkg.engines,
};
writeFileSync(join(OUT, "package.json"), `${JSON.stringify(distPkg, null, 2)}\n`);
writeFileSync(
  join(OUT, STAMP),
  `${JSON.stringify({ version: pkg.version, startedAt: new Date(startedAt).toISOString(), startedAtMs: startedAt }, null, 2)}\n`,
);
process.stdout.write(`build: ${relative(process.cwd(), OUT) || "."} ready (${Date.now() - startedAt} ms)\n`);
