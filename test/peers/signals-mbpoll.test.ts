// signals.modbusServer against a Modbus client no one here wrote: Debian's
// mbpoll plays the QSE's RTU. It writes a 120 kW setpoint with enable and a
// heartbeat; the simulated site (≈ 340 kW) settles under 120 kW; mbpoll reads
// back site power and budget; the heartbeat stops and the setpoint lapses
// (onStale: release) within staleS + one tick; a write above the contract is
// refused with an exception and changes nothing.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { startSimFromConfig } from "../../agent/cli/simulated-site.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { Site } from "../../agent/site/site.ts";
import { loadConfig } from "../../config/load.ts";
import { testPort, waitFor } from "../helpers/ports.ts";

const run = promisify(execFile);
const MBPOLL = "/usr/bin/mbpoll";
const STALE_S = 4;
const TICK_S = 0.5;
let site: Site;
let sim: Awaited<ReturnType<typeof startSimFromConfig>>;
let port: number;

/** mbpoll: -m tcp, -a unit, -r first register (1-based), -t 4 holding / 3 input (-t 4:hex…), -1 one poll. */
async function mbpoll(args: string[], write: string[] = []): Promise<{ code: number; out: string }> {
  try {
    const argv = ["-m", "tcp", "-a", "1", "-p", String(port), "-0", "-1", ...args, "127.0.0.1", ...write];
    const { stdout } = await run(MBPOLL, argv, { timeout: 10_000 });
    return { code: 0, out: stdout };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof err.code === "number" ? err.code : 1,
      out: `${err.stdout ?? ""}${err.stderr ?? ""}`,
    };
  }
}

/** The `[n]: value` lines of mbpoll's output, by register. */
function values(out: string): Map<number, number> {
  const m = new Map<number, number>();
  for (const line of out.split("\n")) {
    const r = /^\[(\d+)\]:\s+(-?\d+)/.exec(line.trim());
    if (r) m.set(Number(r[1]), Number(r[2]));
  }
  return m;
}

before(async () => {
  if (!existsSync(MBPOLL))
    throw new Error("this suite needs Debian's mbpoll (apt-get install mbpoll; .ci/run does)");
  const dir = mkdtempSync(join(tmpdir(), "wk-mbpoll-"));
  port = await testPort();
  const file = join(dir, "site.yaml");
  writeFileSync(
    file,
    `site: { id: mbpoll, timezone: UTC, contractLimitW: 400kW }
store: { path: ./state.db }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${await testPort()}", unitId: 1 } }
miners:
  - { hosts: 127.93.0.1-127.93.0.100, dialect: luxos }
control: { tickS: ${TICK_S}, shedMarginW: 2kW, restoreMarginW: 6kW, minOnS: 1s, minOffS: 1s, restoreStaggerS: 0, rampUpWPerMin: 10MW, failsafeBudgetW: 100kW }
signals:
  modbusServer: { name: qse, listen: "127.0.0.1:${port}", unitId: 1, allow: [127.0.0.1], staleS: ${STALE_S}s, onStale: release }
sim: { seed: 4, noiseW: 50, auxW: 5kW }
`,
  );
  const { config } = await loadConfig(file, { strictFiles: true });
  sim = await startSimFromConfig(config, silentLogger());
  site = new Site(config, silentLogger(), { httpListen: null, minerPollMs: 500, meterPollMs: 250 });
  await site.start();
  await waitFor("a hundred miners hashing", () => site.snapshot().counts.hashing === 100, 30_000);
});

after(async () => {
  await site?.stop();
  await sim?.stop();
});

test("mbpoll writes 120 kW; the site settles under it; the heartbeat stops and the setpoint lapses", {
  timeout: 90_000,
}, async (t) => {
  const startW = site.snapshot().powerW!;
  assert.ok(startW > 200_000, `site ${startW} W`);
  // holding 0..3 = setpoint hi, lo, enable, heartbeat (FC16)
  const w = await mbpoll(["-t", "4", "-r", "0"], ["0", "120", "1", "1"]);
  assert.equal(w.code, 0, w.out);
  let beat = 1;
  const heart = setInterval(() => {
    beat++;
    void mbpoll(["-t", "4", "-r", "3"], [String(beat)]);
  }, 1000);
  let settledS = 0;
  try {
    const t0 = Date.now();
    await waitFor("the site under 120 kW", () => site.snapshot().powerW! < 120_000, 45_000, 250);
    settledS = (Date.now() - t0) / 1000;
    // input 0..5: site power s32, budget u32, flexible u32 (kW, high word first)
    const r = values((await mbpoll(["-t", "3", "-r", "0", "-c", "8"])).out);
    const powerKw = r.get(0)! * 65536 + r.get(1)!;
    assert.ok(powerKw < 120 && powerKw > 20, `site reads back ${powerKw} kW`);
    assert.equal(r.get(2)! * 65536 + r.get(3)!, 120, "budget reads back the setpoint");
    assert.equal(r.get(6)! & 2, 2, "status: setpoint in force");
  } finally {
    clearInterval(heart);
  }
  t.diagnostic(`from ${Math.round(startW / 1000)} kW to under 120 kW in ${settledS.toFixed(1)} s`);

  // a write above the contract: an exception, nothing changes
  const over = await mbpoll(["-t", "4", "-r", "0"], ["0", "500"]);
  assert.notEqual(over.code, 0, over.out);
  const h = values((await mbpoll(["-t", "4", "-r", "0", "-c", "2"])).out);
  assert.deepEqual([h.get(0), h.get(1)], [0, 120]);

  // the heartbeat stops: released within staleS + one tick
  const quietAt = Date.now();
  await waitFor(
    "released",
    async () => {
      const r = values((await mbpoll(["-t", "3", "-r", "2", "-c", "5"])).out);
      return r.get(2)! * 65536 + r.get(3)! === 400 && (r.get(6)! & 16) === 16;
    },
    (STALE_S + 5) * 1000,
    200,
  );
  const lapseS = (Date.now() - quietAt) / 1000;
  t.diagnostic(`setpoint lapsed ${lapseS.toFixed(1)} s after the last heartbeat`);
  assert.ok(lapseS <= STALE_S + TICK_S + 1.5, `${lapseS} s`);
});

test("mbpoll from an address not on the allow list: closed before any write, nothing changes", {
  timeout: 30_000,
}, async () => {
  // loopback clients always come from 127.0.0.1: a server that allows only another address refuses mbpoll
  const dir = mkdtempSync(join(tmpdir(), "wk-mbpoll-deny-"));
  const denyPort = await testPort();
  const file = join(dir, "site.yaml");
  writeFileSync(
    file,
    `site: { id: mbpoll-deny, timezone: UTC, contractLimitW: 400kW }
store: { path: ./state.db }
control: { tickS: ${TICK_S} }
signals:
  modbusServer: { name: qse, listen: "127.0.0.1:${denyPort}", unitId: 1, allow: [127.0.0.9], staleS: ${STALE_S}s, onStale: release }
`,
  );
  const { config } = await loadConfig(file, { strictFiles: true });
  const denied = new Site(config, silentLogger(), { httpListen: null });
  const sources: string[] = [];
  const changes: string[] = [];
  denied.onTick((t) => sources.push(t.budget?.source ?? "none"));
  denied.onEvent((e) => {
    if (e.kind === "signal-changed") changes.push(e.message);
  });
  await denied.start();
  try {
    const saved = port;
    port = denyPort;
    const w = await mbpoll(["-t", "4", "-r", "0"], ["0", "120", "1", "1"]).finally(() => {
      port = saved;
    });
    assert.notEqual(w.code, 0, w.out);
    const n = sources.length;
    await waitFor("two more ticks", () => sources.length >= n + 2, 5000);
    assert.ok(!sources.includes("signal"), `budget sources ${[...new Set(sources)].join(", ")}`);
    assert.deepEqual(changes, []);
  } finally {
    await denied.stop();
  }
});
