// A price spike on the simulator: at a high energy price the miners that lose
// money (the least efficient model) are slept and nothing else; when the price
// falls they come back through the ramp.
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
import { ticksPass } from "../helpers/site-events.ts";

interface DeviceRow {
  id: string;
  state: string;
  model: string | null;
}

test("price spike: only money-losing miners sleep, and return when the price falls", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wk-econ-"));
  const file = join(dir, "site.yaml");
  // the sim cycles S19j Pro (≈29.5 J/TH), S19 XP (≈21.3), S21 (≈17.5); at a hashprice
  // of 0.05/TH/day they break even at ≈0.071, 0.098 and 0.119 per kWh
  writeFileSync(
    file,
    `site: { id: econ, timezone: UTC, contractLimitW: 1MW }
http: { listen: "127.0.0.1:${await testPort()}" }
store: { path: ./ledger.db }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${await testPort()}", unitId: 1 } }
miners:
  - { hosts: 127.49.0.1-127.49.0.9, dialect: luxos }
control:
  tickS: 0.5
  shedMarginW: 1kW
  restoreMarginW: 3kW
  minOnS: 2s
  minOffS: 2s
  rampUpWPerMin: 20kW
  restoreStaggerS: 1
  meterStaleS: 3
  unmeteredW: 2kW
  failsafeBudgetW: 20kW
  economics: { hashpricePerThDay: 0.05, energyPricePerKwh: 0.03 }
sim: { seed: 14, noiseW: 20, auxW: 2kW }
`,
  );
  const { config } = await loadConfig(file, { strictFiles: true });
  const sim = await startSimFromConfig(config, silentLogger());
  const site = new Site(config, silentLogger(), {
    httpListen: { host: "127.0.0.1", port: 0 },
    minerPollMs: 300,
    meterPollMs: 250,
  });
  const base = () => `http://127.0.0.1:${site.httpAddress()!.port}`;
  const devices = async () =>
    ((await (await fetch(`${base()}/api/devices`)).json()) as { miners: DeviceRow[] }).miners;
  await site.start();
  try {
    await waitFor("all hashing", async () => (await devices()).every((m) => m.state === "hashing"));
    await ticksPass(site, 2);
    assert.ok(
      (await devices()).every((m) => m.state === "hashing"),
      "cheap power: nothing is cut",
    );

    site.setPrices({ energyPricePerKwh: 0.08 });
    const spiked = await waitFor(
      "the S19j Pros asleep",
      async () => {
        const ms = await devices();
        const asleep = ms.filter((m) => m.state === "sleeping");
        return asleep.length === 3 && ms;
      },
      15_000,
      200,
    );
    for (const m of spiked) {
      const losing = m.model === "Antminer S19j Pro";
      assert.equal(m.state, losing ? "sleeping" : "hashing", `${m.id} (${m.model})`);
    }
    const site1 = (await (await fetch(`${base()}/api/site`)).json()) as {
      budgetReason: string;
      budgetSource: string;
    };
    assert.equal(site1.budgetSource, "economic");
    assert.match(site1.budgetReason, /^3 miners lose money at /);
    // still only those three after a while (no creeping sheds)
    await ticksPass(site, 3);
    assert.equal((await devices()).filter((m) => m.state === "sleeping").length, 3);

    site.setPrices({ energyPricePerKwh: 0.03 });
    await waitFor(
      "the S19j Pros back",
      async () => (await devices()).every((m) => m.state === "hashing"),
      20_000,
      200,
    );
  } finally {
    await site.stop();
    await sim.stop();
  }
});
