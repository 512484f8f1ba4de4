// `kill -9` in the middle of a curtailment: the agent (a real `wattkeeper run`
// child) is killed while it sleeps miners of a separately running simulator;
// restarted on the same ledger it marks the interrupted actions, keeps the
// sleeping miners asleep (no mass wake) and holds the site under budget.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import Database from "better-sqlite3";
import { INTERRUPTED_REASON } from "../../agent/store/ledger-schema.ts";
import { testPort, waitFor } from "../helpers/ports.ts";

const BIN = new URL("../../bin/wattkeeper.js", import.meta.url).pathname;
const children: ChildProcess[] = [];

function start(args: string[]): { child: ChildProcess; out: () => string } {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => {
    out += d;
  });
  child.stderr!.on("data", (d) => {
    out += d;
  });
  children.push(child);
  return { child, out: () => out };
}

after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

test("kill -9 mid-curtailment, restart: ledger consistent, sleepers stay asleep", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wk-kill9-"));
  let meterPort = await testPort();
  while (!(await isFree(meterPort + 1))) meterPort = await testPort(); // the sim also serves port + 1
  const sim = start([
    "sim",
    "--miners",
    "20",
    "--base-address",
    "127.51.0.1",
    "--dialect",
    "luxos",
    "--meter-port",
    String(meterPort),
    "--aux-w",
    "5000",
    "--seed",
    "21",
  ]);
  await waitFor("the simulator", () => sim.out().includes("meters:"), 15_000);

  const httpPort = await testPort();
  const dbPath = join(dir, "ledger.db");
  const file = join(dir, "site.yaml");
  writeFileSync(
    file,
    `site: { id: kill9, timezone: UTC, contractLimitW: 40kW }
http: { listen: "127.0.0.1:${httpPort}" }
store: { path: ${dbPath} }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${meterPort}", unitId: 1 } }
miners:
  - { hosts: 127.51.0.1-127.51.0.20, dialect: luxos }
control: { tickS: 0.5, shedMarginW: 1kW, restoreMarginW: 3kW, emergencyMarginW: 5kW, minOnS: 1s, minOffS: 2s, meterStaleS: 3, unmeteredW: 5kW, failsafeBudgetW: 20kW }
`,
  );
  const api = async () => {
    const res = await fetch(`http://127.0.0.1:${httpPort}/api/site`);
    return (await res.json()) as { powerW: number; counts: { sleeping: number } };
  };

  const agent = start(["run", "--config", file]);
  // Kill while the ledger holds sleeps written but not yet confirmed: the
  // curtailment is under way, and its commands may or may not have reached the
  // miners (both happen; the assertions below hold either way).
  await waitFor("a sleep in flight", () => countSleeps(dbPath, "pending") >= 1, 20_000, 5);
  agent.child.kill("SIGKILL");
  await once(agent.child, "exit");
  const pendingAtKill = countSleeps(dbPath, "pending");

  const again = start(["run", "--config", file]);
  try {
    const settled = await waitFor(
      "the site under budget after the restart",
      async () => {
        const j = await api().catch(() => null);
        return j && j.powerW > 0 && j.powerW < 40_000 - 1_000 && j;
      },
      20_000,
      200,
    );
    const db = new Database(dbPath, { readonly: true });
    try {
      const pending = db.prepare("SELECT count(*) AS n FROM actions WHERE state = 'pending'").get() as {
        n: number;
      };
      // sleeps that count as taken: confirmed, or interrupted (recorded as if taken)
      const taken = db
        .prepare(
          "SELECT count(*) AS n FROM actions WHERE kind = 'sleep' AND (state = 'done' OR (state = 'failed' AND outcome_reason = ?))",
        )
        .get(INTERRUPTED_REASON) as { n: number };
      const wakes = db.prepare("SELECT count(*) AS n FROM actions WHERE kind = 'wake'").get() as {
        n: number;
      };
      const interrupted = db
        .prepare("SELECT count(*) AS n FROM actions WHERE state = 'failed' AND outcome_reason = ?")
        .get(INTERRUPTED_REASON) as { n: number };
      assert.equal(pending.n, 0, "nothing left pending after the restart");
      assert.ok(interrupted.n >= pendingAtKill, "every action pending at the kill is marked interrupted");
      // No miner asleep without a ledger row: an interrupted sleep whose command
      // landed stays asleep (no mass wake) and stays on record.
      assert.ok(
        taken.n >= settled.counts.sleeping,
        `${taken.n} sleeps on record, ${settled.counts.sleeping} asleep`,
      );
      assert.equal(wakes.n, 0, "no wake while the site is over its restore band");
    } finally {
      db.close();
    }
    assert.ok(settled.counts.sleeping >= 1);
  } finally {
    again.child.kill("SIGTERM");
    const [code] = await once(again.child, "exit");
    assert.equal(code, 0);
    sim.child.kill("SIGTERM");
    await once(sim.child, "exit");
  }
});

/** Sleep rows in `state`; 0 while the ledger does not exist yet. */
function countSleeps(dbPath: string, state: "done" | "pending"): number {
  let db: Database.Database;
  try {
    db = new Database(dbPath, { readonly: true, fileMustExist: true });
  } catch {
    return 0;
  }
  try {
    const row = db
      .prepare("SELECT count(*) AS n FROM actions WHERE kind = 'sleep' AND state = ?")
      .get(state) as {
      n: number;
    };
    return row.n;
  } catch {
    return 0; // the schema is not created yet
  } finally {
    db.close();
  }
}

async function isFree(port: number): Promise<boolean> {
  const { createServer } = await import("node:net");
  const s = createServer();
  return new Promise((resolve) => {
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}
