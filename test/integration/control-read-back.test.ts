// A write's confirming read-back is the site's reading of that miner: with
// miners polled rarely (a large fleet), a confirmed sleep shows as sleeping at
// once, so the loop neither counts the miner as hashing in its estimate nor
// picks it again for the next shed (it used to sleep the same miners over and
// over until the next sweep). LuxOS confirms by a partial read: what the
// read-back does not carry (temperatures, model) stays from the poll.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { startSimFromConfig } from "../../agent/cli/simulated-site.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { Site } from "../../agent/site/site.ts";
import type { SiteEvent } from "../../agent/store/events.ts";
import { loadConfig } from "../../config/load.ts";
import { testPort, waitFor } from "../helpers/ports.ts";
import { ticksPass } from "../helpers/site-events.ts";

let sim: Awaited<ReturnType<typeof startSimFromConfig>>;
let file: string;

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), "wk-readback-"));
  file = join(dir, "site.yaml");
  // 20 LuxOS miners ≈ 63 kW + 5 kW aux; the contract allows 45 kW
  writeFileSync(
    file,
    `site: { id: readback, timezone: UTC, contractLimitW: 45kW }
http: { listen: "127.0.0.1:${await testPort()}" }
store: { path: ./ledger.db }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${await testPort()}", unitId: 1 } }
miners:
  - { hosts: 127.52.0.1-127.52.0.20, dialect: luxos }
control:
  tickS: 0.5
  shedMarginW: 1kW
  restoreMarginW: 3kW
  emergencyMarginW: 5kW
  minOnS: 5s
  minOffS: 3s
  meterStaleS: 3
  unmeteredW: 5kW
  failsafeBudgetW: 30kW
sim: { seed: 12, noiseW: 0, auxW: 5kW }
`,
  );
  const { config } = await loadConfig(file, { strictFiles: true });
  sim = await startSimFromConfig(config, silentLogger());
});
after(() => sim.stop());

interface DeviceRow {
  id: string;
  state: string;
  model: string | null;
  chipTempMaxC: number | null;
}

test("polled once a minute: a confirmed sleep shows at once and no miner is slept twice", async () => {
  const { config } = await loadConfig(file, { strictFiles: true });
  // one sweep at the start, the next a minute later: everything below happens between them
  const site = new Site(config, silentLogger(), {
    httpListen: { host: "127.0.0.1", port: 0 },
    minerPollMs: 60_000,
    meterPollMs: 200,
  });
  const sleeps = new Map<string, number>();
  site.onEvent((e: SiteEvent) => {
    if (e.kind === "shed" && e.data?.action === "sleep" && e.deviceId)
      sleeps.set(e.deviceId, (sleeps.get(e.deviceId) ?? 0) + 1);
  });
  await site.start();
  const startedAt = Date.now();
  try {
    const api = async <T>(path: string): Promise<T> =>
      (await (await fetch(`http://127.0.0.1:${site.httpAddress()!.port}${path}`)).json()) as T;
    await waitFor(
      "the metered site under budget − shed margin",
      async () => {
        const b = await api<{ powerW: number; counts: { sleeping: number } }>("/api/site");
        return b.counts.sleeping > 0 && b.powerW < 45_000 - 1_000;
      },
      20_000,
      100,
    );
    // the loop goes on ticking over the settled site: nothing is slept again
    await ticksPass(site, 10);
    const b = await api<{ counts: { sleeping: number; hashing: number } }>("/api/site");
    assert.ok(Date.now() - startedAt < 55_000, "the next sweep must not have come yet");
    const slept = [...sleeps.keys()];
    assert.ok(slept.length > 0);
    for (const [id, n] of sleeps) assert.equal(n, 1, `${id} slept ${n} times`);
    // the site counts exactly the miners the model has asleep, before any sweep read them
    assert.equal(b.counts.sleeping, slept.length);
    assert.equal(sim.model.countByState().sleeping, slept.length);
    const { miners } = await api<{ miners: DeviceRow[] }>("/api/devices");
    for (const id of slept) {
      const row = miners.find((r) => r.id === id);
      assert.ok(row, `${id} in /api/devices`);
      assert.equal(row.state, "sleeping");
      // LuxOS's read-back has neither: they are the poll's, carried over
      assert.ok(row.model, `${id} keeps its model`);
      assert.ok(row.chipTempMaxC !== null, `${id} keeps its temperature`);
    }
  } finally {
    await site.stop();
  }
});
