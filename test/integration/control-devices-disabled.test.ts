// A miner whose hashboards are disabled mid-run (`ascdisable` on every device):
// its short average falls to 0 and `devs` says Enabled N, so the agent reads it
// faulted at 0 W within one poll. Its power leaves the site estimate, and the
// planner no longer counts it as sheddable: a shed picks others.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { isFlexible, plan } from "../../agent/control/policy.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { planView } from "../../agent/site/plan-view.ts";
import { Site } from "../../agent/site/site.ts";
import { loadConfig } from "../../config/load.ts";
import { type SimSite, startSimSite } from "../../sim/site.ts";
import { testPort, waitFor } from "../helpers/ports.ts";

const POLL_MS = 300;
const HOSTS = ["127.104.0.1", "127.104.0.2", "127.104.0.3", "127.104.0.4"];
let sim: SimSite;
let site: Site;
let webPort: number;

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), "wk-devs-off-"));
  webPort = await testPort();
  writeFileSync(join(dir, "web.pass"), "root\n");
  const file = join(dir, "site.yaml");
  writeFileSync(
    file,
    `site: { id: devs-off, timezone: UTC, contractLimitW: 1MW }
store: { path: ./state.db }
miners:
  - hosts: ${HOSTS[0]}-${HOSTS[3]}
    webPort: ${webPort}
    credentials: { username: root, passwordFile: ./web.pass }
control: { tickS: 0.5, unmeteredW: 0, meterStaleS: 3 }
`,
  );
  const { config } = await loadConfig(file, { strictFiles: true });
  sim = await startSimSite({
    miners: config.miners.map((m) => ({ id: m.id, host: m.host, port: m.port })),
    meters: [],
    seed: 31,
    antminerWeb: { port: webPort },
    logger: silentLogger(),
  });
  site = new Site(config, silentLogger(), {
    httpListen: { host: "127.0.0.1", port: 0 },
    minerPollMs: POLL_MS,
  });
  await site.start();
});

after(async () => {
  await site?.stop();
  await sim?.stop();
});

const siteJson = async () =>
  (await (await fetch(`http://127.0.0.1:${site.httpAddress()!.port}/api/site`)).json()) as {
    powerW: number | null;
    powerSource: string;
  };

test("disabled hashboards: the power leaves the estimate within one poll; the planner no longer sheds it", async (t) => {
  const id = "m-127-104-0-2";
  const caps = new Set(["sleep", "wake"] as const);
  const view = () => planView(site.state, () => caps);
  const all = await waitFor("four hashing miners", async () => {
    const v = view();
    return v.miners.every((m) => m.state === "hashing" && m.powerW) && v;
  });
  const minerW = all.miners.find((m) => m.id === id)!.powerW!;
  const totalW = (await siteJson()).powerW!;
  assert.ok(isFlexible(all.miners.find((m) => m.id === id)!, undefined, Date.now()));

  sim.model.setHashboards(id, "disabled");
  const t0 = Date.now();
  const after = await waitFor(
    "the estimate without it",
    async () => {
      const s = await siteJson();
      return s.powerW !== null && s.powerW < totalW - minerW * 0.9 && s;
    },
    5000,
    20,
  );
  const elapsedMs = Date.now() - t0;
  t.diagnostic(`estimate ${totalW} W → ${after.powerW} W, ${elapsedMs} ms after the boards were disabled`);
  assert.equal(after.powerSource, "estimate");
  // one poll period, plus the read itself and the next tick
  assert.ok(elapsedMs <= POLL_MS + 1000, `${elapsedMs} ms`);

  const v = view();
  const m = v.miners.find((x) => x.id === id)!;
  assert.equal(m.state, "faulted");
  assert.equal(m.powerW, 0);
  assert.equal(isFlexible(m, undefined, Date.now()), false);
  // a shed of everything: every other miner is asked to sleep, this one is not
  const p = plan(
    v,
    { budgetW: 0 },
    {
      shedMarginW: 0,
      restoreMarginW: 1000,
      emergencyMarginW: 1e9,
      minOnS: 0,
      minOffS: 0,
      rampUpWPerMin: 1e9,
      restoreStaggerS: 0,
      strategy: "sleep",
    },
    { devices: new Map(), restores: [] },
    Date.now(),
  );
  const slept = p.actions.filter((a) => a.kind === "sleep").map((a) => a.deviceId);
  assert.deepEqual(
    slept.sort(),
    v.miners
      .filter((x) => x.id !== id)
      .map((x) => x.id)
      .sort(),
  );

  sim.model.setHashboards(id, "ok");
  await waitFor("hashing again", () => view().miners.find((x) => x.id === id)?.state === "hashing");
});

test("/api/devices shows the detected dialect and what the miner can do, the configured one beside it", async () => {
  const body = (await (await fetch(`http://127.0.0.1:${site.httpAddress()!.port}/api/devices`)).json()) as {
    miners: Array<{ id: string; dialect: string | null; configuredDialect: string; capabilities: string[] }>;
  };
  const m = await waitFor("capabilities confirmed", async () => {
    const b = (await (
      await fetch(`http://127.0.0.1:${site.httpAddress()!.port}/api/devices`)
    ).json()) as typeof body;
    return b.miners.find((x) => x.id === "m-127-104-0-1" && x.capabilities.length > 0);
  });
  // stock bmminer with the web CGI: the antminer dialect, every write confirmed at first contact
  assert.equal(m.dialect, "antminer");
  assert.equal(m.configuredDialect, "auto");
  assert.deepEqual(m.capabilities, ["sleep", "wake", "setPowerLimit", "reboot", "locate"]);
});
