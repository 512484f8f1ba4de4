// A miner that keeps hashing while its pools are dead wastes its work: the
// site raises one device-degraded event (code pool-dead) for it, and a
// device-recovered event once a pool is alive again.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { Site } from "../../agent/site/site.ts";
import type { SiteEvent } from "../../agent/store/events.ts";
import { loadConfig } from "../../config/load.ts";
import { type SimSite, startSimSite } from "../../sim/site.ts";
import { waitFor } from "../helpers/ports.ts";
import { sweepsPass } from "../helpers/site-events.ts";

let sim: SimSite;
let site: Site;
const events: SiteEvent[] = [];

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), "wk-pool-dead-"));
  const file = join(dir, "site.yaml");
  writeFileSync(
    file,
    `site: { id: pool-dead, timezone: UTC, contractLimitW: 1MW }
store: { path: ./state.db }
miners:
  - hosts: 127.105.0.1-127.105.0.2
`,
  );
  const { config } = await loadConfig(file, { strictFiles: true });
  sim = await startSimSite({
    miners: config.miners.map((m) => ({ id: m.id, host: m.host, port: m.port })),
    meters: [],
    seed: 5,
    logger: silentLogger(),
  });
  site = new Site(config, silentLogger(), { httpListen: null, minerPollMs: 200 });
  site.onEvent((e) => events.push(e));
  await site.start();
});

after(async () => {
  await site?.stop();
  await sim?.stop();
});

test("pools dead while hashing: one pool-dead event, one recovery", async () => {
  const id = "m-127-105-0-1";
  await waitFor("hashing", () => site.state.miners.get(id)?.reading?.state === "hashing");
  sim.cgminer.setMisbehaviour(id, { poolsDead: true });
  const degraded = await waitFor("a pool-dead event", () =>
    events.find((e) => e.deviceId === id && e.kind === "device-degraded"),
  );
  assert.equal(degraded.data?.code, "pool-dead");
  assert.match(
    degraded.message,
    /every pool is dead \(stratum\+tcp:\/\/.*\) while the miner hashes: its work is wasted/,
  );
  // several more polls: still one event
  await sweepsPass(site, 5, "cgminer");
  assert.equal(events.filter((e) => e.deviceId === id).length, 1);
  assert.equal(site.state.miners.get(id)?.reading?.state, "hashing", "it still hashes");
  sim.cgminer.setMisbehaviour(id, {});
  const back = await waitFor("recovered", () =>
    events.find((e) => e.deviceId === id && e.kind === "device-recovered"),
  );
  assert.deepEqual((back.data as { codes: string[] }).codes, ["pool-dead"]);
});
