// A scheduled window (a 4CP peak, a demand-response event) lowers the budget
// while it is active, in the site's timezone, with no broker involved: the loop
// sheds miners until the metered site is under the window's budget.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startSimFromConfig } from "../../agent/cli/simulated-site.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { Site } from "../../agent/site/site.ts";
import { loadConfig } from "../../config/load.ts";
import { testPort, waitFor } from "../helpers/ports.ts";

const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const hhmm = (d: Date) =>
  `${String(d.getUTCHours()).padStart(2, "0")}:${String(d.getUTCMinutes()).padStart(2, "0")}`;

test("an active schedule window sheds the site under its budget", async () => {
  // a window from a minute ago to two minutes ahead (UTC); near midnight it
  // crosses it, which windows support (a window belongs to the day it starts)
  const now = new Date();
  const from = new Date(now.getTime() - 60_000);
  const to = new Date(now.getTime() + 120_000);
  const dir = mkdtempSync(join(tmpdir(), "wk-sched-"));
  const file = join(dir, "site.yaml");
  writeFileSync(
    file,
    `site: { id: sched, timezone: UTC, contractLimitW: 1MW }
http: { listen: "127.0.0.1:${await testPort()}" }
store: { path: ./ledger.db }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${await testPort()}", unitId: 1 } }
miners:
  - { hosts: 127.47.0.1-127.47.0.12, dialect: luxos }
control:
  tickS: 0.5
  shedMarginW: 1kW
  restoreMarginW: 3kW
  emergencyMarginW: 5kW
  minOnS: 5s
  minOffS: 5s
  meterStaleS: 3
  unmeteredW: 2kW
  failsafeBudgetW: 20kW
  schedule:
    - name: test peak
      months: [${from.getUTCMonth() + 1}]
      days: [${DAYS[from.getUTCDay()]}]
      from: "${hhmm(from)}"
      to: "${hhmm(to)}"
      budgetW: 25kW
sim: { seed: 12, noiseW: 50, auxW: 2kW }
`,
  );
  const { config } = await loadConfig(file, { strictFiles: true });
  const sim = await startSimFromConfig(config, silentLogger());
  const site = new Site(config, silentLogger(), {
    httpListen: { host: "127.0.0.1", port: 0 },
    minerPollMs: 500,
    meterPollMs: 250,
  });
  await site.start();
  try {
    const body = await waitFor(
      "the site under the window's budget",
      async () => {
        const res = await fetch(`http://127.0.0.1:${site.httpAddress()!.port}/api/site`);
        const j = (await res.json()) as { powerW: number; budgetW: number; budgetReason: string };
        return j.budgetW === 25_000 && j.powerW < 25_000 - 1_000 && j;
      },
      15_000,
      200,
    );
    assert.match(body.budgetReason, /test peak/);
    assert.ok(sim.model.totalW() < 25_000);
  } finally {
    await site.stop();
    await sim.stop();
  }
});
