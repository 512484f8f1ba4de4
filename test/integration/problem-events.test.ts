// Problems end to end on the simulator: a miner on a pool outside its pool
// policy is listed by GET /api/problems with its next step, and raised once as
// a `problem-raised` event (it holds over two checks); a miner within its
// policy is not.

import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startSimFromConfig } from "../../agent/cli/simulated-site.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { Site } from "../../agent/site/site.ts";
import type { SiteEvent } from "../../agent/store/events.ts";
import { loadConfig } from "../../config/load.ts";
import { testPort, waitFor } from "../helpers/ports.ts";
import { ticksPass } from "../helpers/site-events.ts";

test("a miner off its pool policy: listed with its next step and raised once as an event", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wk-problems-"));
  const file = join(dir, "site.yaml");
  writeFileSync(
    file,
    `site: { id: problems, timezone: UTC, contractLimitW: 1MW }
store: { path: ./state.db }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${await testPort()}", unitId: 1 } }
miners:
  - { host: 127.122.0.1, dialect: luxos, pools: { allow: ["stratum+tcp://pool.example.net:3333"] } }
  - { host: 127.122.0.2, dialect: luxos, pools: { workerPattern: "." } }
control: { tickS: 0.5 }
sim: { seed: 3, noiseW: 10, auxW: 2kW }
`,
  );
  const { config } = await loadConfig(file, { strictFiles: true });
  const sim = await startSimFromConfig(config, silentLogger());
  const site = new Site(config, silentLogger(), {
    httpListen: { host: "127.0.0.1", port: 0 },
    minerPollMs: 300,
    meterPollMs: 250,
  });
  const events: SiteEvent[] = [];
  site.onEvent((e) => events.push(e));
  await site.start();
  try {
    const base = `http://127.0.0.1:${site.httpAddress()!.port}`;
    const problems = await waitFor("the wrong pool listed", async () => {
      const j = (await (await fetch(`${base}/api/problems`)).json()) as {
        problems: Array<{ kind: string; id: string; message: string; fix: string }>;
      };
      return j.problems.some((p) => p.kind === "wrong-pool") && j.problems;
    });
    const wrong = problems.filter((p) => p.kind === "wrong-pool");
    assert.deepEqual(
      wrong.map((p) => p.id),
      ["m-127-122-0-1"],
    );
    assert.match(wrong[0]!.message, /pool stratum\+tcp:\/\/btc\.sim-pool\.example:3333 is not allowed/);
    assert.match(wrong[0]!.fix, /pools back/);
    const raised = await waitFor(
      "the problem raised as an event",
      () => events.find((e) => e.kind === "problem-raised" && e.deviceId === "m-127-122-0-1"),
      15_000,
    );
    assert.equal(raised.severity, "warning");
    assert.equal(raised.data?.problem, "wrong-pool");
    // more than one problem check (every 5 s) later, still the one event
    await ticksPass(site, 12);
    assert.equal(
      events.filter((e) => e.kind === "problem-raised" && e.deviceId === "m-127-122-0-1").length,
      1,
      "raised once, not every check",
    );
    assert.ok(!events.some((e) => e.kind === "problem-raised" && e.deviceId === "m-127-122-0-2"));
  } finally {
    await site.stop();
    await sim.stop();
  }
});
