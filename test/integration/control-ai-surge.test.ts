// An AI surge on a site near its budget: the GPU nodes' jobs pull more power,
// the loop sheds mining to make room, and AI is left alone (no cap while a
// flexible miner can still be slept).
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startSimFromConfig } from "../../agent/cli/simulated-site.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { Site } from "../../agent/site/site.ts";
import { loadConfig } from "../../config/load.ts";
import { type GpuNodeSim, startGpuNodeSim } from "../../sim/gpu/server.ts";
import { generateKeyPair } from "../../sim/gpu/ssh2.ts";
import { testPort, waitFor } from "../helpers/ports.ts";
import { ticksPass } from "../helpers/site-events.ts";

test("AI surge: mining is shed, GPUs keep their limits", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wk-surge-"));
  const client = generateKeyPair();
  writeFileSync(join(dir, "id_ed25519"), client.privateKey, { mode: 0o600 });
  const base = `site: { id: surge, timezone: UTC, contractLimitW: 1MW }
http: { listen: "127.0.0.1:${await testPort()}" }
store: { path: ./ledger.db }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${await testPort()}", unitId: 1 } }
miners:
  - { hosts: 127.48.0.1-127.48.0.10, dialect: luxos }
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
sim: { seed: 13, noiseW: 20, auxW: 2kW }
`;
  writeFileSync(join(dir, "sim.yaml"), base);
  const sim = await startSimFromConfig((await loadConfig(join(dir, "sim.yaml"))).config, silentLogger());
  const gpus: GpuNodeSim[] = [];
  for (const id of ["gpu-a", "gpu-b"]) {
    gpus.push(await startGpuNodeSim({ id, authorizedKeys: [client.publicKey], model: sim.model }));
  }
  // the agent's config: the same site plus the two GPU nodes, pinned to their host keys
  const nodes = gpus
    .map(
      (g) =>
        `  - { id: ${g.id}, host: 127.0.0.1, port: ${g.port}, user: wattkeeper, privateKeyFile: ./id_ed25519, hostKeySha256: "${g.hostKeyFingerprint}", floorW: 350 }`,
    )
    .join("\n");
  writeFileSync(join(dir, "site.yaml"), `${base}gpuNodes:\n${nodes}\n`);
  const { config } = await loadConfig(join(dir, "site.yaml"), { strictFiles: true });
  const site = new Site(config, silentLogger(), {
    httpListen: { host: "127.0.0.1", port: 0 },
    minerPollMs: 300,
    meterPollMs: 250,
  });
  const api = async () =>
    (await (await fetch(`http://127.0.0.1:${site.httpAddress()!.port}/api/site`)).json()) as {
      powerW: number;
      counts: { sleeping: number };
      classes: { ai: { powerW: number | null } };
    };
  await site.start();
  try {
    const before = await waitFor("AI power reported", async () => {
      const j = await api();
      return j.classes.ai.powerW !== null && j.powerW > 0 && j;
    });
    // a budget just above today's draw, as a lease
    const budgetW = Math.round(before.powerW + 1_500);
    site.setBudgetLease({ watts: budgetW, ttlS: 120, reason: "tight test budget" });
    await ticksPass(site, 3);
    assert.equal((await api()).counts.sleeping, 0, "nothing shed before the surge");

    // the surge: every GPU runs a job (+2 × ~1.1 kW)
    for (const g of gpus) for (const gpu of g.smi.gpus) gpu.busy = true;
    const after = await waitFor(
      "mining shed under the budget",
      async () => {
        const j = await api();
        return j.counts.sleeping > 0 && j.powerW < budgetW - 1_000 && j;
      },
      15_000,
      200,
    );
    assert.ok(after.counts.sleeping >= 1);
    for (const g of gpus) {
      assert.deepEqual(
        g.smi.gpus.map((x) => x.limitW),
        Array(8).fill(700),
        `${g.id}: AI must not be capped while mining can be shed`,
      );
    }
  } finally {
    await site.stop();
    for (const g of gpus) await g.stop();
    await sim.stop();
  }
});
