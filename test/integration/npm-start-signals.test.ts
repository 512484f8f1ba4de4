// `npm start` and signals: stopping npm stops the agent. SIGTERM and SIGINT to
// the npm process reach the agent (the start script execs node, so no shell
// stands between them) and it stops cleanly; SIGHUP, which npm does not pass
// on, ends npm, and the agent, left without its npm, stops as on SIGTERM. No
// agent process may outlive its npm. Runs the real package.json script; the
// config comes after `--` (the last --config wins), on free ports.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { testPort, waitFor } from "../helpers/ports.ts";
import { call } from "./http-helpers.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const haveNpm = spawnSync("npm", ["--version"], { stdio: "ignore" }).status === 0;
const started: Array<{ npm: ChildProcess; agentPid: number }> = [];

/** Alive and not a zombie (an orphan's zombie lingers where pid 1 does not reap). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

after(() => {
  for (const { npm, agentPid } of started) {
    if (npm.exitCode === null && npm.signalCode === null) npm.kill("SIGKILL");
    if (alive(agentPid)) process.kill(agentPid, "SIGKILL");
  }
});

async function startNpm(name: string): Promise<{ npm: ChildProcess; agentPid: number; out: () => string }> {
  const dir = mkdtempSync(join(tmpdir(), `wk-npm-${name}-`));
  const port = await testPort();
  const file = join(dir, "site.yaml");
  writeFileSync(
    file,
    `site: { id: npm-${name}, timezone: UTC, contractLimitW: 1MW }
http: { listen: "127.0.0.1:${port}" }
store: { path: ${join(dir, "wk.db")} }
control: { tickS: 0.5 }
`,
  );
  const npm = spawn("npm", ["start", "--", "--config", file], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  npm.stdout!.on("data", (d) => {
    out += d;
  });
  npm.stderr!.on("data", (d) => {
    out += d;
  });
  const base = `http://127.0.0.1:${port}`;
  await waitFor(
    `the agent under npm start (${name})`,
    async () => (await call(base, "GET", "/api/site").catch(() => null))?.status === 200,
    60_000,
    200,
  );
  const pid = Number(/"pid":(\d+)/.exec(out)?.[1]);
  assert.ok(pid > 0, out);
  started.push({ npm, agentPid: pid });
  return { npm, agentPid: pid, out: () => out };
}

test("SIGTERM, SIGINT or SIGHUP to the npm start process: the agent stops too", {
  skip: haveNpm ? false : "npm is not on PATH",
  timeout: 180_000,
}, async (t) => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    await t.test(`${signal} to npm reaches the agent, which stops cleanly`, async () => {
      const { npm, agentPid, out } = await startNpm(signal.toLowerCase());
      // exec: the agent is npm's own child, so npm's forwarding reaches it
      assert.notEqual(agentPid, npm.pid);
      const exited = once(npm, "exit");
      npm.kill(signal);
      await exited;
      await waitFor(`agent pid ${agentPid} gone`, () => !alive(agentPid), 15_000, 100);
      assert.match(out(), new RegExp(`"signal":"${signal}","msg":"stopping"`));
      assert.match(out(), /stopped cleanly/);
    });
  }

  await t.test("SIGHUP to npm (which does not pass it on): npm ends, the agent follows it", async () => {
    const { npm, agentPid, out } = await startNpm("sighup");
    const exited = once(npm, "exit");
    npm.kill("SIGHUP");
    await exited;
    await waitFor(`agent pid ${agentPid} gone`, () => !alive(agentPid), 15_000, 100);
    assert.match(out(), /wattkeeper: npm \(pid \d+\) has gone: stopping/);
    assert.match(out(), /stopped cleanly/);
  });
});
