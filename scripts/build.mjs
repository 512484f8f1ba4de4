// `npm run build`: compiles the TypeScript tree with esbuild, one output file per
// source file (imports stay imports, `.ts` specifiers become `.js`), and copies
// what the compiler does not emit, so the output runs with plain `node`: meter
// profiles, miner models, example configs, the config JSON schema and the status
// page's static assets. The output gets its own package.json, which makes it the
// package root that config/paths.ts finds (meter profiles, version), and a
// build-info.json stamp holding a fingerprint of the inputs (every path and its
// content), so `--if-stale` (bin/wattkeeper.js, test/run.mjs) rebuilds
// only when something changed, was added or was removed. Type checking is
// `npm run typecheck`'s job: esbuild only strips types.
//
//   node scripts/build.mjs [--out DIR] [--if-stale]     (default: dist)
import { createHash } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const STAMP = "build-info.json";
/** Folders compiled (every .ts but declarations) and fingerprinted. */
// test/helpers: the benches reuse its port leases and waits, CLI runner, GPU and meter sims, command signer
const SOURCE_DIRS = ["agent", "drivers", "config", "sim", "bench", "test/helpers"];
/** Files whose change changes the output without touching a source. */
const BUILD_INPUTS = ["package.json", "tsconfig.json", "scripts/build.mjs"];
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
/** How long a second builder waits for the first one's lock before giving up. */
const LOCK_WAIT_MS = 120_000;

/**
 * A build that could not run. `environment`: nothing wrong with the sources, the
 * place cannot build (no dev dependencies, a read-only install): bin/wattkeeper.js
 * then runs the dist/ it has, with a warning.
 */
export class BuildError extends Error {
  constructor(message, { environment = false } = {}) {
    super(message);
    this.environment = environment;
  }
}

/**
 * A hash of every input file's path and content (not times: a checkout, a copy
 * or a `touch` that changes nothing needs no rebuild; an added, removed or
 * renamed file changes the path list).
 */
export function fingerprint(root = ROOT) {
  const hash = createHash("sha256");
  const walk = (rel) => {
    const path = join(root, rel);
    if (statSync(path).isDirectory()) {
      for (const name of readdirSync(path).sort()) walk(join(rel, name));
      return;
    }
    hash.update(`${rel}\0`);
    hash.update(readFileSync(path));
    hash.update("\0");
  };
  for (const input of [...SOURCE_DIRS, ...BUILD_INPUTS]) if (existsSync(join(root, input))) walk(input);
  return hash.digest("hex");
}

function sourceFiles(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(path));
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) out.push(path);
  }
  return out;
}

/** Reads the stamp of an earlier build in `out`, or null. */
function readStamp(out) {
  try {
    return JSON.parse(readFileSync(join(out, STAMP), "utf8"));
  } catch {
    return null;
  }
}

/** Only ever replace a folder this script made: never the repository or a folder above it. */
function checkOut(out) {
  const rel = relative(out, ROOT);
  if (rel === "" || !rel.startsWith(".."))
    throw new BuildError(`refusing to build into ${out}: it holds the sources`);
  if (existsSync(out) && readdirSync(out).length > 0 && !existsSync(join(out, STAMP))) {
    throw new BuildError(`refusing to clear ${out}: not empty and not an earlier build (no ${STAMP})`);
  }
}

/**
 * One builder at a time per output folder (parallel test files and CLI runs may
 * all find the build stale): mkdir is atomic; a lock whose owner has died is taken over.
 */
async function withLock(out, fn) {
  const lock = `${out}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, "pid"), String(process.pid));
      break;
    } catch (err) {
      if (err.code === "EACCES" || err.code === "EROFS" || err.code === "EPERM") {
        throw new BuildError(`cannot write beside ${out} (${err.code})`, { environment: true });
      }
      if (err.code !== "EEXIST") throw err;
      let owner = Number.NaN;
      try {
        owner = Number(readFileSync(join(lock, "pid"), "utf8"));
      } catch {
        // the owner is between mkdir and writing its pid: wait
      }
      if (Number.isInteger(owner) && owner > 0 && !alive(owner)) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new BuildError(`${lock} held by pid ${owner} for ${LOCK_WAIT_MS} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === "EPERM";
  }
}

async function compile(tmp) {
  let esbuild;
  try {
    esbuild = await import("esbuild");
  } catch {
    throw new BuildError("esbuild is not installed: the build needs the dev dependencies (npm ci)", {
      environment: true,
    });
  }
  const entryPoints = SOURCE_DIRS.filter((d) => existsSync(join(ROOT, d))).flatMap((d) =>
    sourceFiles(join(ROOT, d)),
  );
  // "bundle" only to get a resolve hook: every relative import stays an import of
  // the sibling output file (.ts → .js), every package stays external, so each
  // output file is its source file with the types stripped.
  const siblings = {
    name: "siblings",
    setup(b) {
      b.onResolve({ filter: /^\.\.?\// }, (args) =>
        args.kind === "entry-point" ? undefined : { path: args.path.replace(/\.ts$/, ".js"), external: true },
      );
    },
  };
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints,
    outdir: tmp,
    outbase: ROOT,
    bundle: true,
    packages: "external",
    platform: "node",
    format: "esm",
    target: "node20",
    sourcemap: true,
    plugins: [siblings],
    logLevel: "silent",
  });
  for (const w of result.warnings) process.stderr.write(`build: warning: ${w.text}\n`);
  return entryPoints.length;
}

function copyAssets(tmp) {
  for (const asset of ASSETS) {
    const from = join(ROOT, asset);
    if (!existsSync(from)) {
      if (OPTIONAL.has(asset)) continue;
      throw new BuildError(`missing asset ${asset}`);
    }
    mkdirSync(dirname(join(tmp, asset)), { recursive: true });
    cpSync(from, join(tmp, asset), { recursive: true });
  }
}

function writeMeta(tmp, startedAt, print) {
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
  writeFileSync(join(tmp, "package.json"), `${JSON.stringify(distPkg, null, 2)}\n`);
  const stamp = { version: pkg.version, startedAt: new Date(startedAt).toISOString(), inputs: print };
  writeFileSync(join(tmp, STAMP), `${JSON.stringify(stamp, null, 2)}\n`);
}

/**
 * Builds into `out` (default dist/). The new tree is made beside it and moved in
 * whole, so a process starting meanwhile sees the old build or the new one, never half.
 * With `ifStale`, returns without building when the stamp's fingerprint matches the inputs.
 */
export async function build({
  out = join(ROOT, "dist"),
  ifStale = false,
  log = (line) => process.stdout.write(line),
} = {}) {
  out = resolve(out);
  if (ifStale && readStamp(out)?.inputs === fingerprint()) return { built: false };
  checkOut(out);
  return withLock(out, async () => {
    // a builder that held the lock before us may have just made it
    if (ifStale && readStamp(out)?.inputs === fingerprint()) return { built: false };
    const startedAt = Date.now();
    // taken before compiling: an edit made during the build leaves it stale
    const print = fingerprint();
    const tmp = `${out}.tmp-${process.pid}`;
    const old = `${out}.old-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    try {
      const files = await compile(tmp);
      copyAssets(tmp);
      writeMeta(tmp, startedAt, print);
      if (existsSync(out)) renameSync(out, old);
      renameSync(tmp, out);
      rmSync(old, { recursive: true, force: true });
      log(
        `build: ${relative(process.cwd(), out) || "."} ready (${files} files, ${Date.now() - startedAt} ms)\n`,
      );
      return { built: true };
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true });
      if (err instanceof BuildError) throw err;
      // esbuild's own errors carry file:line:col and the message
      const lines = (err.errors ?? []).map((e) =>
        e.location ? `${e.location.file}:${e.location.line}:${e.location.column}: ${e.text}` : e.text,
      );
      throw new BuildError(lines.length > 0 ? `compile failed:\n${lines.join("\n")}` : String(err));
    }
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const { values } = parseArgs({
    options: { out: { type: "string", default: "dist" }, "if-stale": { type: "boolean", default: false } },
  });
  try {
    await build({ out: resolve(ROOT, values.out), ifStale: values["if-stale"] });
  } catch (err) {
    process.stderr.write(`build: ${err instanceof BuildError ? err.message : err.stack}\n`);
    process.exit(1);
  }
}
