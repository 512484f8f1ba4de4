// Crash consistency (`npm run crash -- --rounds 20`): a real `wattkeeper run`
// child is killed with SIGKILL at a random point of a curtailment or of a
// restore, and restarted on the same store, again and again. The simulator
// runs here, so every miner's sleep and wake is seen as it happens. Checked
// after every restart and printed at the end:
// - no action from before the crash is left pending (the ledger recovered it);
// - no miner is asleep without the ledger knowing the agent slept it (done,
//   or sent and pending): a stranded miner would never be woken;
// - wakes stay within rampUpWPerMin in every 60 s window, across restarts
//   (the restore history is in the ledger, so a restart is no reason to surge).
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import { allocateAddresses } from "../sim/addresses.ts";
import { startSimSite } from "../sim/site.ts";
import { testPort } from "../test/helpers/ports.ts";
import { siteMeters } from "../test/helpers/sim-meters.ts";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "20" } } });
const ROUNDS = Number(values.rounds);
const MINERS = 30;
const RAMP_W_PER_MIN = 20_000;
const BASE = "127.66.0.1";
const BIN = new URL("../bin/wattkeeper.js", import.meta.url).pathname;

const hosts = allocateAddresses(BASE, MINERS);
const meterPort = await testPort();
const sim = await startSimSite({
  // busy miners (150 ms a reply): a sleep takes about a second, so kills land mid-action
  miners: hosts.map((host, i) => ({ id: `m-${i}`, host, port: 4028, dialect: "luxos", replyDelayMs: 150 })),
  meters: await siteMeters(meterPort),
  seed: 3,
  noiseW: 50,
  auxW: 5000,
});
const ipToSimId = new Map(hosts.map((h, i) => [h, `m-${i}`]));
const wakes: Array<{ at: number; w: number }> = [];
sim.model.onStateChange((id, to, prev) => {
  if (prev === "sleeping" && to !== "sleeping")
    wakes.push({ at: Date.now(), w: sim.model.minerView(id).model.nominalW });
});

const dir = mkdtempSync(join(tmpdir(), "wk-crash-"));
const dbPath = join(dir, "state.db");
const file = join(dir, "site.yaml");
const httpPort = await testPort();
// ~30 LuxOS miners ≈ 100 kW: 60 kW sheds about half, 150 kW restores them through the ramp
function writeConfig(contractW: number) {
  writeFileSync(
    file,
    `site: { id: crash, timezone: UTC, contractLimitW: ${contractW} }
http: { listen: "127.0.0.1:${httpPort}" }
store: { path: ${dbPath} }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${meterPort}", unitId: 1 } }
miners:
  - { hosts: ${hosts[0]}-${hosts.at(-1)}, dialect: luxos }
control: { tickS: 0.5, shedMarginW: 1kW, restoreMarginW: 3kW, emergencyMarginW: 5kW, minOnS: 1s, minOffS: 1s, rampUpWPerMin: ${RAMP_W_PER_MIN}, restoreStaggerS: 1, meterStaleS: 3, unmeteredW: 5kW }
`,
  );
}

function startAgent(): ChildProcess {
  return spawn(process.execPath, [BIN, "run", "--config", file], {
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, WATTKEEPER_LOG_LEVEL: "error" },
  });
}

async function up(): Promise<void> {
  const end = Date.now() + 20_000;
  for (;;) {
    // the control loop exists once the ledger has been opened (and recovered)
    const ok = await fetch(`http://127.0.0.1:${httpPort}/api/site`)
      .then(async (r) => r.ok && ((await r.json()) as { mode: string | null }).mode !== null)
      .catch(() => false);
    if (ok) return;
    if (Date.now() > end) throw new Error("agent did not come up");
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Check {
  round: number;
  phase: string;
  killedAfterMs: number;
  interrupted: number;
  staleAfterRestart: number;
  stranded: number;
}
const checks: Check[] = [];

function ledgerState(restartAt: number) {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const stale = db
      .prepare("SELECT count(*) AS n FROM actions WHERE state = 'pending' AND created_at < ?")
      .get(restartAt) as { n: number };
    const interrupted = db
      .prepare("SELECT count(*) AS n FROM actions WHERE outcome_reason LIKE 'interrupted%'")
      .get() as { n: number };
    const slept = new Set(
      // what the ledger knows the agent slept: done (devices), or sent and not finished (a
      // pending row, which the next start recovers as slept)
      (
        db
          .prepare(
            "SELECT device_id FROM devices WHERE slept_by_agent = 1 UNION SELECT device_id FROM actions WHERE state = 'pending' AND kind = 'sleep'",
          )
          .all() as { device_id: string }[]
      ).map((r) => r.device_id),
    );
    return { stale: stale.n, interrupted: interrupted.n, slept };
  } finally {
    db.close();
  }
}

/** Miners asleep in the simulator that the ledger does not hold as slept by the agent. Config ids end in the address with dashes. */
function stranded(slept: Set<string>): number {
  const claimed = new Set<string>();
  for (const id of slept) {
    const ip = /(\d+-\d+-\d+-\d+)$/.exec(id)?.[1]?.replaceAll("-", ".");
    const simId = ip ? ipToSimId.get(ip) : undefined;
    if (simId) claimed.add(simId);
  }
  return sim.model.minerIds().filter((m) => sim.model.state(m) === "sleeping" && !claimed.has(m)).length;
}

let interruptedBefore = 0;
try {
  for (let round = 1; round <= ROUNDS; round++) {
    const phase = round % 2 === 1 ? "shed (60 kW)" : "restore (150 kW)";
    writeConfig(round % 2 === 1 ? 60_000 : 150_000);
    const restartAt = Date.now();
    const agent = startAgent();
    await up();
    // the ledger as the restarted agent recovered it, before this round's kill
    const after = ledgerState(restartAt);
    const killAfterMs = 200 + Math.floor(Math.random() * 3000);
    await new Promise((r) => setTimeout(r, killAfterMs));
    agent.kill("SIGKILL");
    await once(agent, "exit");
    const snap = ledgerState(Date.now());
    checks.push({
      round,
      phase,
      killedAfterMs: killAfterMs,
      interrupted: after.interrupted - interruptedBefore,
      staleAfterRestart: after.stale,
      stranded: stranded(snap.slept),
    });
    interruptedBefore = after.interrupted;
    process.stderr.write(`round ${round}/${ROUNDS} ${phase}: killed after ${killAfterMs} ms\n`);
  }
  // a last clean start recovers the last kill
  const restartAt = Date.now();
  const agent = startAgent();
  await up();
  const final = ledgerState(restartAt);
  agent.kill("SIGTERM");
  await once(agent, "exit");
  checks.push({
    round: ROUNDS + 1,
    phase: "final start",
    killedAfterMs: 0,
    interrupted: final.interrupted - interruptedBefore,
    staleAfterRestart: final.stale,
    stranded: stranded(ledgerState(Date.now()).slept),
  });
} finally {
  await sim.stop();
}

{
  const db = new Database(dbPath, { readonly: true });
  const rows = db
    .prepare(
      "SELECT kind, state, outcome_reason AS why, count(*) AS n FROM actions GROUP BY kind, state, why",
    )
    .all();
  db.close();
  console.log("ledger actions by kind and state:", JSON.stringify(rows));
}
let maxRampW = 0;
for (const w of wakes) {
  const inWindow = wakes.filter((x) => x.at >= w.at && x.at < w.at + 60_000).reduce((a, x) => a + x.w, 0);
  maxRampW = Math.max(maxRampW, inWindow);
}
console.table(checks);
const sum = (k: keyof Check) => checks.reduce((a, c) => a + Number(c[k]), 0);
console.log(
  `crash consistency: ${ROUNDS} kill -9 rounds on ${MINERS} LuxOS miners; interrupted actions recovered ${sum("interrupted")}; ` +
    `left pending after a restart ${sum("staleAfterRestart")}; stranded miners ${Math.max(...checks.map((c) => c.stranded))}; ` +
    `wakes ${wakes.length}, largest 60 s restore ${(maxRampW / 1000).toFixed(1)} kW (ramp ${RAMP_W_PER_MIN / 1000} kW/min)`,
);
const ok =
  sum("staleAfterRestart") === 0 && checks.every((c) => c.stranded === 0) && maxRampW <= RAMP_W_PER_MIN * 1.1;
console.log(ok ? "PASS" : "FAIL");
process.exit(ok ? 0 : 1);
