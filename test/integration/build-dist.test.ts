// `npm run build` produces a tree that runs with plain node (no tsx): built
// into a temporary folder (so a developer's dist/ is left alone), it carries
// the meter profiles, the example configs and the status-page assets, its CLI
// validates a config, and `run` starts a simulated site, answers /healthz and
// stops with exit 0 on SIGTERM.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { runNode } from "../helpers/cli.ts";
import { testPort, waitFor } from "../helpers/ports.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "wk-build-"));
const OUT = join(dir, "dist");
const ENTRY = join(OUT, "agent", "entry.js");
const running = new Set<ReturnType<typeof spawn>>();

function node(args: string[], timeoutMs: number) {
  return runNode(args, { cwd: dir, timeoutMs });
}

before(async () => {
  // the built tree resolves its dependencies by walking up: give it the repository's
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"), "dir");
  const res = await node([join(ROOT, "scripts", "build.mjs"), "--out", OUT], 240_000);
  assert.equal(res.code, 0, `build failed:\n${res.out}\n${res.err}`);
});

after(() => {
  for (const c of running) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

test("the built tree is complete", () => {
  for (const file of [
    "agent/entry.js",
    "package.json",
    "build-info.json",
    "config/meters/sdm630.yaml",
    "config/models/antminer.yaml",
    "config/examples/sim.yaml",
    "config/examples/site.yaml",
    "config/wattkeeper.schema.json",
  ]) {
    assert.ok(existsSync(join(OUT, file)), `missing ${file}`);
  }
  if (existsSync(join(ROOT, "agent/http/public"))) {
    assert.ok(existsSync(join(OUT, "agent/http/public")), "status-page assets not copied");
  }
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
  const built = JSON.parse(readFileSync(join(OUT, "package.json"), "utf8")) as {
    version: string;
    type: string;
  };
  assert.equal(built.version, pkg.version);
  assert.equal(built.type, "module");
});

test("--if-stale skips an up-to-date build and refuses a folder it did not make", async () => {
  const again = await node([join(ROOT, "scripts", "build.mjs"), "--out", OUT, "--if-stale"], 60_000);
  assert.equal(again.code, 0, again.err);
  assert.equal(again.out, "", "an up-to-date build was redone");

  const foreign = join(dir, "foreign");
  mkdirSync(foreign);
  writeFileSync(join(foreign, "keep.txt"), "not a build\n");
  const res = await node([join(ROOT, "scripts", "build.mjs"), "--out", foreign], 60_000);
  assert.equal(res.code, 1);
  assert.match(res.err, /refusing to clear/);
  assert.ok(existsSync(join(foreign, "keep.txt")));
});

test("plain node runs the built CLI: --version, check-config", async () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
  const version = await node([ENTRY, "--version"], 30_000);
  assert.equal(version.code, 0, version.err);
  assert.equal(version.out.trim(), pkg.version);

  const ok = await node([ENTRY, "check-config", join(OUT, "config/examples/site.yaml")], 30_000);
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /valid/);

  const bad = join(dir, "bad.yaml");
  writeFileSync(bad, "site: { id: x, timezone: UTC, contractLimitW: lots }\n");
  const res = await node([ENTRY, "check-config", bad], 30_000);
  assert.equal(res.code, 2);
  // FILE:line:col: path: message
  assert.ok(res.err.includes(`${bad}:1:`) && res.err.includes(": site.contractLimitW:"), res.err);
});

test("plain node runs the built agent on a simulated site; SIGTERM exits 0", {
  timeout: 90_000,
}, async () => {
  const httpPort = await testPort();
  const meterPort = await testPort();
  const file = join(dir, "sim.yaml");
  writeFileSync(
    file,
    `site: { id: built, timezone: UTC, contractLimitW: 50kW }
http: { listen: "127.0.0.1:${httpPort}" }
store: { path: ${join(dir, "state.db")} }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${meterPort}", unitId: 1 } }
miners:
  - { hosts: 127.91.0.1-127.91.0.3 }
control: { tickS: 1 }
sim: { seed: 3 }
`,
  );
  const child = spawn(process.execPath, [ENTRY, "run", "--config", file], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  let out = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  child.stderr.on("data", (d) => {
    out += d;
  });
  const health = async () => {
    const res = await fetch(`http://127.0.0.1:${httpPort}/healthz`, { signal: AbortSignal.timeout(3000) });
    return res.status === 200;
  };
  await waitFor("/healthz 200", () => health().catch(() => false), 40_000, 200);
  const site = (await (await fetch(`http://127.0.0.1:${httpPort}/api/site`)).json()) as { siteId: string };
  assert.equal(site.siteId, "built");

  child.kill("SIGTERM");
  const [code] = (await once(child, "exit")) as [number | null];
  assert.equal(code, 0, out);
  assert.match(out, /stopped cleanly/);
});
