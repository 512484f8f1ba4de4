// The loop closed over a mixed fleet, every dialect the contract meets
// (test/contract/targets.ts) present, three miners each on this file's block
// 127.138: a budget step sheds across every dialect that can sleep, worst J/TH
// first — no miner left hashing is less efficient than one slept — and every
// shed is confirmed by the miner's power falling (a shed event is an outcome
// the driver confirmed by read-back; the simulated draw shows it too).
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { Site } from "../../agent/site/site.ts";
import type { SiteEvent } from "../../agent/store/events.ts";
import { loadConfig } from "../../config/load.ts";
import { type SimMinerSpec, type SimSite, startSimSite } from "../../sim/site.ts";
import { testPort, waitFor } from "../helpers/ports.ts";
import { siteMeters } from "../helpers/sim-meters.ts";
import { TARGETS } from "./targets.ts";

const PER_DIALECT = 3;
let sim: SimSite;
let site: Site;
const events: SiteEvent[] = [];
const dialectOf = new Map<string, string>();

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), "wk-mixed-"));
  const meterPort = await testPort();
  const miners: SimMinerSpec[] = [];
  const entries: string[] = [];
  for (const [i, t] of TARGETS.entries()) {
    // a configured password file cannot be empty: the Braiins unit gets one of its own
    const password = t.endpoint?.credentials?.password || `pw-${t.dialect}`;
    const simSpec = t.dialect === "braiins" ? { ...t.sim, braiins: { password } } : t.sim;
    let creds = "";
    if (t.endpoint?.credentials) {
      writeFileSync(join(dir, `${t.dialect}.pw`), password, { mode: 0o600 });
      const user = t.endpoint.credentials.username;
      creds = `, credentials: { ${user ? `username: ${user}, ` : ""}passwordFile: ./${t.dialect}.pw }`;
    }
    const ports = [
      t.port ? `port: ${t.port}` : "",
      t.endpoint?.webPort ? `webPort: ${t.endpoint.webPort}` : "",
      t.endpoint?.grpcPort ? `grpcPort: ${t.endpoint.grpcPort}` : "",
    ].filter((s) => s !== "");
    for (let k = 1; k <= PER_DIALECT; k++) {
      const host = `127.138.${i + 1}.${k}`;
      const id = `${t.dialect}-${k}`;
      dialectOf.set(id, t.dialect);
      miners.push({ ...simSpec, id, host, port: t.port ?? 4028, dialect: t.dialect });
      entries.push(
        `  - { id: ${id}, host: ${host}, dialect: ${t.dialect}${ports.length ? `, ${ports.join(", ")}` : ""}${creds} }`,
      );
    }
  }
  sim = await startSimSite({
    seed: 138,
    noiseW: 0,
    auxW: 2_000,
    miners,
    meters: await siteMeters(meterPort),
    ...Object.assign({}, ...TARGETS.map((t) => t.site ?? {})),
  });
  const file = join(dir, "site.yaml");
  writeFileSync(
    file,
    `site: { id: mixed, timezone: UTC, contractLimitW: 1MW }
store: { path: ./ledger.db }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${meterPort}", unitId: 1 } }
miners:
${entries.join("\n")}
control:
  tickS: 0.5
  shedMarginW: 500
  restoreMarginW: 5kW
  emergencyMarginW: 200kW
  minOnS: 1s
  minOffS: 60s
  rampUpWPerMin: 1kW
  meterStaleS: 3
  unmeteredW: 2kW
`,
  );
  const { config } = await loadConfig(file, { strictFiles: true });
  site = new Site(config, silentLogger(), { httpListen: null, minerPollMs: 300, meterPollMs: 250 });
  site.onEvent((e) => events.push(e));
  await site.start();
});
after(async () => {
  await site?.stop();
  await sim?.stop();
});

test("a budget step sheds across every dialect, worst J/TH first, each shed confirmed by power falling", async () => {
  const sleepers = TARGETS.filter((t) => t.capabilities.includes("sleep")).map((t) => t.dialect);
  const ids = [...dialectOf.keys()];
  // every miner read, and what each can do known
  await waitFor(
    "every miner hashing and a site reading",
    () => {
      const snap = site.snapshot();
      return snap.counts.hashing === ids.length && snap.powerW !== null;
    },
    20_000,
  );
  const jPerTh = new Map(
    ids.map((id) => {
      const w = sim.model.powerW(id);
      return [id, w / sim.model.hashrateThs(id)] as const;
    }),
  );
  const drawW = new Map(ids.map((id) => [id, sim.model.powerW(id)] as const));
  // leave room for about two of the fleet's miners: nearly all must sleep, each dialect's among them
  // room for one of the fleet's smallest miners (a Bitaxe, the most efficient): every other
  // miner must sleep, each dialect's among them
  // (a miner whose dialect cannot sleep — stock cgminer, read-only — keeps drawing what it draws)
  const canSleep = (id: string) => sleepers.includes(dialectOf.get(id) as never);
  const asleepW = ids.reduce(
    (sum, id) => sum + (canSleep(id) ? sim.model.minerView(id).model.sleepW : drawW.get(id)!),
    0,
  );
  const budgetW = Math.round(2_000 + 500 + asleepW + 25);
  site.setBudgetLease({ watts: budgetW, ttlS: 120, reason: "mixed fleet step" });
  await waitFor(
    "the site under its new budget",
    () => {
      const p = site.snapshot().powerW;
      return p !== null && p < budgetW - 500;
    },
    30_000,
  );
  // a shed's event comes with its outcome: once the driver has read the miner back
  const shedIds = () =>
    new Set(events.filter((e) => e.kind === "shed" && e.data?.action === "sleep").map((e) => e.deviceId!));
  await waitFor(
    "a confirmed shed for every miner the simulator shows asleep",
    () => {
      const confirmed = shedIds();
      const asleep = ids.filter((id) => sim.model.state(id) === "sleeping");
      return asleep.length > 0 && asleep.every((id) => confirmed.has(id));
    },
    30_000,
  );
  const slept = shedIds();
  assert.deepEqual(
    [...new Set([...slept].map((id) => dialectOf.get(id)))].sort(),
    [...sleepers].sort(),
    "every dialect that can sleep gave miners",
  );
  for (const id of slept) {
    assert.equal(sim.model.state(id), "sleeping", id);
    assert.ok(sim.model.powerW(id) < drawW.get(id)! * 0.5, `${id}: ${sim.model.powerW(id)} W asleep`);
  }
  assert.ok(!events.some((e) => e.kind === "action-failed"), "no shed failed");
  // worst J/TH first: nothing left hashing that can sleep is worse than what was slept
  const kept = ids.filter((id) => !slept.has(id) && sleepers.includes(dialectOf.get(id) as never));
  const bestSlept = Math.min(...[...slept].map((id) => jPerTh.get(id)!));
  for (const id of kept)
    assert.ok(
      jPerTh.get(id)! <= bestSlept * 1.02,
      `${id} (${jPerTh.get(id)!.toFixed(1)} J/TH) kept over a better one`,
    );
});
