// Hashing health end to end on the simulator (LuxOS miners: per-board rates
// and chip temperatures in `stats`): a hashboard killed in the simulator is a
// `dead-board` problem naming the board; a miner run hot is `hot` by the
// limit of the site's own model (below the agent's default); GET /api/problems
// lists them worst first, and /api/devices carries the boards.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startSimFromConfig } from "../../agent/cli/simulated-site.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import type { Problem } from "../../agent/site/problems.ts";
import { Site } from "../../agent/site/site.ts";
import { loadConfig } from "../../config/load.ts";
import { testPort, waitFor } from "../helpers/ports.ts";

test("a dead hashboard and a hot miner (by its model's limit) are listed with their boards", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wk-boards-"));
  const file = join(dir, "site.yaml");
  writeFileSync(
    file,
    `site: { id: boards, timezone: UTC, contractLimitW: 1MW }
store: { path: ./state.db }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${await testPort()}", unitId: 1 } }
miners:
  - { hosts: 127.165.0.1-127.165.0.3, dialect: luxos, location: container-H }
models:
  - { name: Antminer S19j Pro, nominalW: 3068, nominalThs: 104, powerLimitW: { min: 2000, max: 3400 }, sleepW: 30, wakeUpS: 300, hotChipC: 82 }
control: { tickS: 0.5 }
sim: { seed: 5, noiseW: 10, auxW: 2kW, models: [antminer-s19j-pro] }
`,
  );
  const { config } = await loadConfig(file, { strictFiles: true });
  const sim = await startSimFromConfig(config, silentLogger());
  sim.model.setChainDead("m-127-165-0-1", 1, true);
  sim.model.setExtraTemp("m-127-165-0-2", 20);
  const site = new Site(config, silentLogger(), {
    httpListen: { host: "127.0.0.1", port: 0 },
    minerPollMs: 300,
    meterPollMs: 250,
  });
  await site.start();
  try {
    const base = `http://127.0.0.1:${site.httpAddress()!.port}`;
    const problems = await waitFor("the dead board and the hot miner listed", async () => {
      const j = (await (await fetch(`${base}/api/problems`)).json()) as { problems: Problem[] };
      const kinds = j.problems.map((p) => `${p.kind} ${p.id}`);
      return kinds.includes("dead-board m-127-165-0-1") && kinds.includes("hot m-127-165-0-2") && j.problems;
    });
    assert.deepEqual(
      problems.map((p) => `${p.kind} ${p.id}`),
      ["hot m-127-165-0-2", "dead-board m-127-165-0-1"],
    );
    const dead = problems.find((p) => p.kind === "dead-board")!;
    // LuxOS numbers chains as the stock firmware does, from 1: the simulator's chain 1 is board 2
    assert.equal(dead.message, "hashboard 2 at 0 while 2 of 3 hash");
    assert.equal(dead.location, "container-H");
    assert.ok(dead.since);
    const hot = problems.find((p) => p.kind === "hot")!;
    assert.match(hot.message, /^chips at \d+ °C \(board [\d, ]+\), the model's limit 82 °C$/);

    const devices = (await (await fetch(`${base}/api/devices`)).json()) as {
      miners: Array<{ id: string; boards: Array<{ index: number; hashrateThs: number; chips: number }> }>;
    };
    const boards = devices.miners.find((m) => m.id === "m-127-165-0-1")!.boards;
    assert.deepEqual(
      boards.map((b) => [b.index, b.chips]),
      [
        [1, 126],
        [2, 0],
        [3, 126],
      ],
    );
    assert.equal(boards[1]!.hashrateThs, 0);

    // the board back: the problem goes
    sim.model.setChainDead("m-127-165-0-1", 1, false);
    await waitFor("the dead board cleared", async () => {
      const j = (await (await fetch(`${base}/api/problems`)).json()) as { problems: Problem[] };
      return !j.problems.some((p) => p.kind === "dead-board");
    });
  } finally {
    await site.stop();
    await sim.stop();
  }
});
