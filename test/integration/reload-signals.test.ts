// SIGHUP and SIGTERM on a real `wattkeeper run` child with the embedded
// simulator: a broken config is refused (each problem logged by path) and the
// running site keeps its budget; a changed contractLimitW replaces the site
// (same HTTP port, same store) and /api/site shows the new budget; SIGTERM
// stops cleanly with exit 0.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { freePort, waitFor } from "../helpers/ports.ts";

const BIN = new URL("../../bin/wattkeeper.js", import.meta.url).pathname;
let child: ChildProcess | null = null;

after(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

function siteYaml(httpPort: number, meterPort: number, dbPath: string, contractLimit: string): string {
  return `site: { id: reload, timezone: UTC, contractLimitW: ${contractLimit} }
http: { listen: "127.0.0.1:${httpPort}" }
store: { path: ${dbPath} }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${meterPort}", unitId: 1 } }
miners:
  - { hosts: 127.90.0.1-127.90.0.4, dialect: luxos }
control: { tickS: 0.5, shedMarginW: 1kW, restoreMarginW: 3kW, emergencyMarginW: 5kW, minOnS: 1s, minOffS: 2s, meterStaleS: 5, unmeteredW: 1kW, failsafeBudgetW: 10kW }
sim: { seed: 7 }
`;
}

test("SIGHUP: a bad config is refused, a good one applied; SIGTERM exits 0", {
  timeout: 120_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), "wk-reload-"));
  const file = join(dir, "site.yaml");
  const httpPort = await freePort();
  const meterPort = await freePort();
  const dbPath = join(dir, "state.db");
  writeFileSync(file, siteYaml(httpPort, meterPort, dbPath, "40kW"));

  const proc = spawn(process.execPath, [BIN, "run", "--config", file], { stdio: ["ignore", "pipe", "pipe"] });
  child = proc;
  let out = "";
  proc.stdout!.on("data", (d) => {
    out += d;
  });
  proc.stderr!.on("data", (d) => {
    out += d;
  });
  const site = async () => {
    const res = await fetch(`http://127.0.0.1:${httpPort}/api/site`, { signal: AbortSignal.timeout(3000) });
    return (await res.json()) as { siteId: string; budgetW: number; budgetSource: string };
  };
  const budgetIs = (w: number) => async () => ((await site().catch(() => null))?.budgetW === w ? true : null);

  await waitFor("the first budget (40 kW)", budgetIs(40_000), 40_000, 100);

  // a broken config: refused, every problem logged by path, the old site keeps running
  writeFileSync(
    file,
    `${siteYaml(httpPort, meterPort, dbPath, "lots")}bogusSection: 1\n`.replace("tickS: 0.5", "tickS: -1"),
  );
  const before = out.length;
  proc.kill("SIGHUP");
  await waitFor("the refusal", () => out.slice(before).includes("reload refused"), 20_000);
  const logged = out.slice(before);
  assert.ok(
    logged.includes(`${file}: site.contractLimitW:`),
    `no site.contractLimitW problem in:\n${logged}`,
  );
  assert.ok(logged.includes(`${file}: control.tickS:`), `no control.tickS problem in:\n${logged}`);
  assert.equal(proc.exitCode, null, "still running");
  assert.equal((await site()).budgetW, 40_000, "the old budget stays");

  // a good config with a new contract limit replaces the site on the same port and store
  writeFileSync(file, siteYaml(httpPort, meterPort, dbPath, "30kW"));
  proc.kill("SIGHUP");
  await waitFor("the new budget (30 kW)", budgetIs(30_000), 40_000, 100);
  assert.match(out, /config reloaded/);
  assert.equal(proc.exitCode, null, "still running");

  proc.kill("SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const [code, signal] = (await Promise.race([
    once(proc, "exit"),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no exit after SIGTERM:\n${out}`)), 30_000);
    }),
  ]).finally(() => clearTimeout(timer))) as [number | null, string | null];
  assert.equal(signal, null, out);
  assert.equal(code, 0, out);
  assert.match(out, /stopped cleanly/);
  if (process.env.WK_SHOW_LOG) process.stdout.write(out);
});
