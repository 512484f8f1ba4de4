// `npm start` is a hybrid site: a sim config with `sim.gpuNodes` and no
// gpuNodes of its own gets simulated AI nodes over SSH, pinned to their host
// keys, and the site shows AI power from them within 10 s of the start; aux
// without a meter of its own is derived from the site meter, and says so.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Agent } from "../../agent/cli/run.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { createNotifier } from "../../agent/runtime/systemd-notify.ts";
import { loadConfig } from "../../config/load.ts";
import { testPort, waitFor } from "../helpers/ports.ts";

test("sim.gpuNodes: AI power from simulated GPU nodes within 10 s", { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "wk-hybrid-"));
  const port = await testPort();
  const file = join(dir, "site.yaml");
  writeFileSync(
    file,
    `site: { id: hybrid, timezone: UTC, contractLimitW: 1MW }
http: { listen: "127.0.0.1:${port}" }
store: { path: ${join(dir, "wk.db")} }
mqtt: { url: "mqtt://127.0.0.1:${await testPort()}", protocolVersion: 4 }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${await testPort()}", unitId: 1 } }
miners:
  - { hosts: 127.119.0.1-127.119.0.10, dialect: luxos }
control: { tickS: 0.5 }
sim: { seed: 2, gpuNodes: 2 }
`,
  );
  const { config } = await loadConfig(file, { strictFiles: true });
  assert.equal(config.gpuNodes.length, 0, "the config itself lists none");
  const agent = new Agent({
    file,
    logger: silentLogger(),
    notifier: createNotifier({ env: {} }),
    version: "test",
  });
  const t0 = Date.now();
  const done = agent.run(config);
  try {
    const api = async (path: string) =>
      (await fetch(`http://127.0.0.1:${port}${path}`).catch(() => null))?.json() as
        | Promise<Record<string, unknown>>
        | undefined;
    await waitFor(
      "AI power from the GPU nodes",
      async () => {
        const site = (await api("/api/site")) as { classes?: { ai: { powerW: number | null } } } | undefined;
        return (site?.classes?.ai.powerW ?? 0) > 0;
      },
      10_000,
      250,
    );
    const seconds = (Date.now() - t0) / 1000;
    const devices = (await api("/api/devices")) as {
      gpuNodes: Array<{ id: string; state: string; gpus: unknown[] }>;
    };
    assert.deepEqual(
      devices.gpuNodes.map((g) => [g.id, g.state, g.gpus.length]),
      [
        ["gpu-01", "ok", 8],
        ["gpu-02", "ok", 8],
      ],
    );
    // aux has no meter here: derived from the site meter while it reads, and said so
    const site = (await api("/api/site")) as {
      powerW: number;
      powerSource: string;
      classes: Record<"ai" | "mining" | "aux", { powerW: number; derived?: boolean }>;
    };
    assert.equal(site.powerSource, "meter");
    assert.equal(site.classes.aux.derived, true);
    const rest = site.powerW - site.classes.mining.powerW - site.classes.ai.powerW;
    assert.ok(Math.abs(site.classes.aux.powerW - Math.max(0, rest)) <= 1, JSON.stringify(site.classes));
    console.log(`AI power shown ${seconds.toFixed(1)} s after the start`);
  } finally {
    agent.stop();
    assert.equal(await done, 0);
  }
});
