// Operator and remote intents on the simulator, as every channel (HTTP, MQTT)
// hands them to the Site: device actions go through the loop and the ledger,
// exclusions, the mode and a lease survive a restart, and each intent leaves
// an audit entry and an event.
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
const tech = { via: "http" as const, who: "alice" };

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), "wk-intents-"));
  file = join(dir, "site.yaml");
  // 6 LuxOS miners ≈ 19 kW against a 1 MW contract: the policy has nothing to do
  writeFileSync(
    file,
    `site: { id: intents, timezone: UTC, contractLimitW: 1MW }
store: { path: ./state.db }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${await testPort()}", unitId: 1 } }
miners:
  - { hosts: 127.57.0.1-127.57.0.6, dialect: luxos }
control: { tickS: 0.5, minOnS: 1s, minOffS: 1s, restoreStaggerS: 0 }
sim: { seed: 5, noiseW: 10, auxW: 1kW }
`,
  );
  const { config } = await loadConfig(file, { strictFiles: true });
  sim = await startSimFromConfig(config, silentLogger());
});
after(() => sim.stop());

const opts = { httpListen: null, minerPollMs: 300, meterPollMs: 250 };

test("device actions act through the loop; exclusions, mode and lease survive a restart; all audited", async () => {
  const { config } = await loadConfig(file, { strictFiles: true });
  const site = new Site(config, silentLogger(), opts);
  const seen: SiteEvent[] = [];
  site.onEvent((e) => seen.push(e));
  await site.start();
  const id = config.miners[2]!.id;
  try {
    await waitFor("every miner read", () => site.snapshot().counts.hashing === 6, 10_000);

    const slept = await site.deviceAction({ id, action: "sleep", reason: "fan swap" }, tech);
    assert.deepEqual(slept.ok, true, JSON.stringify(slept));
    await waitFor(
      "the miner asleep in the snapshot",
      () => site.state.miners.get(id)?.reading?.state === "sleeping",
    );
    // far under budget, yet the policy does not wake a miner it did not sleep
    await ticksPass(site, 3);
    assert.equal(site.state.miners.get(id)?.reading?.state, "sleeping");

    const unknown = await site.deviceAction({ id: "nope", action: "wake" }, tech);
    assert.deepEqual(unknown, { ok: false, error: 'unknown device "nope"' });

    assert.equal((await site.deviceAction({ id, action: "exclude", reason: "maintenance" }, tech)).ok, true);
    assert.equal(site.setMode("hold", tech).ok, true);
    site.setBudgetLease(
      { watts: 500_000, ttlS: 3600, reason: "DR event 7" },
      { via: "mqtt", who: "ops-central", ref: "c-1" },
    );

    const kinds = seen.map((e) => e.kind);
    for (const k of [
      "operator-action",
      "operator-action-failed",
      "device-excluded",
      "mode-changed",
      "lease-set",
    ]) {
      assert.ok(kinds.includes(k), `event ${k} in ${kinds.join(",")}`);
    }
    const audit = site.audit!.recent(10);
    assert.deepEqual(audit.map((a) => `${a.action} ${a.who} ${a.ok}`).reverse(), [
      "device/action alice true",
      "device/action alice false",
      "device/action alice true",
      "mode/set alice true",
      "budget/set ops-central true",
    ]);
    assert.equal(audit[0]!.ref, "c-1");
  } finally {
    await site.stop();
  }

  const again = new Site(config, silentLogger(), opts);
  await again.start();
  try {
    assert.equal(again.mode, "hold");
    assert.equal(again.budgetLease?.watts, 500_000);
    assert.equal(again.budgetLease?.reason, "DR event 7");
    await waitFor(
      "a control tick",
      () => again.snapshot().counts.hashing + again.snapshot().counts.sleeping === 6,
    );
    // events and the audit log are kept across the restart
    assert.ok(again.recentEvents(50).some((e) => e.kind === "device-excluded" && e.deviceId === id));
    // an operator wake works in hold mode; include puts the miner back under control
    assert.equal((await again.deviceAction({ id, action: "wake" }, tech)).ok, true);
    assert.equal((await again.deviceAction({ id, action: "include" }, tech)).ok, true);
    again.clearBudgetLease(tech);
    assert.equal(again.budgetLease, null);
    assert.equal(again.setMode("auto", tech).ok, true);
  } finally {
    await again.stop();
  }
});
