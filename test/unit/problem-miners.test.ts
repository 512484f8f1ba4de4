// The problems check reads the miners lean (agent/site/device-rows.ts
// problemMiners): one small row at a time instead of the full `GET
// /api/devices` rows. It must judge every miner exactly as the full rows do.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { devicesView, problemDevicesView } from "../../agent/site/device-rows.ts";
import { listProblems } from "../../agent/site/problems.ts";
import { SiteState } from "../../agent/site/state.ts";
import { loadConfig } from "../../config/load.ts";
import type { MinerBoard, MinerReading } from "../../drivers/types.ts";
import { minerReading } from "../helpers/readings.ts";

const T = Date.parse("2026-12-05T12:00:00Z");

const reading = (o: Partial<MinerReading> = {}): MinerReading =>
  minerReading({
    at: T - 2000,
    boardTempsC: [60, 61, 62],
    chipTempMaxC: 70,
    fanRpm: [5000, 5100, 5000, 5200],
    pools: [{ url: "stratum+tcp://site.pool:3333", user: "site.m1", status: "Alive" }],
    firmware: "bmminer 4.11.1",
    model: "Antminer S19",
    ...o,
  });

const board = (index: number, hashrateThs: number, chipTempC: number): MinerBoard => ({
  index,
  hashrateThs,
  idealThs: 33,
  boardTempC: 60,
  chipTempC,
  chips: 76,
  status: hashrateThs > 0 ? "Alive" : "Dead",
});

test("the lean miner rows raise exactly the problems the full device rows raise", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wk-problem-miners-"));
  const pools = '{ allow: ["stratum+tcp://site.pool:3333"], workerPattern: "^site\\\\." }';
  writeFileSync(
    join(dir, "site.yaml"),
    [
      "site: { id: pm, timezone: UTC, contractLimitW: 1MW }",
      "store: { path: ./s.db }",
      "miners:",
      "  - { id: m-ok, host: 10.1.0.1, location: row-1 }",
      "  - { id: m-down, host: 10.1.0.2, location: row-1 }",
      "  - { id: m-hot, host: 10.1.0.3 }",
      "  - { id: m-fan, host: 10.1.0.4 }",
      `  - { id: m-pool, host: 10.1.0.5, pools: ${pools} }`,
      "  - { id: m-fw, host: 10.1.0.6 }",
      "  - { id: m-away, host: 10.1.0.7 }",
      "  - { id: m-ro, host: 10.1.0.8, dialect: cgminer }",
      "  - { id: m-board, host: 10.1.0.9 }",
      "  - { id: m-fault, host: 10.1.0.10 }",
      "  - { id: m-new, host: 10.1.0.11 }",
      "  - { id: m-api, host: 10.1.0.12 }",
    ].join("\n"),
  );
  const state = new SiteState((await loadConfig(join(dir, "site.yaml"))).config);
  state.setMinerReading("m-ok", reading());
  state.setMinerReading(
    "m-down",
    reading({ state: "unreachable", reason: "WK_CGMINER_TIMEOUT: no answer", hashrateThs: null }),
  );
  state.setMinerReading("m-hot", reading({ chipTempMaxC: 97, boards: [board(1, 33, 97), board(2, 33, 80)] }));
  state.setMinerReading("m-fan", reading({ fanRpm: [5000, 0, 5100, 5000] }));
  state.setMinerReading(
    "m-pool",
    reading({ pools: [{ url: "stratum+tcp://evil.pool:3333", user: "thief.1", status: "Alive" }] }),
  );
  state.setMinerReading("m-fw", reading({ at: T - 60_000 }));
  state.setMinerReading("m-fw", reading({ firmware: "LUXminer 2025.6" }));
  state.setMinerReading("m-away", reading({ state: "unreachable", reason: "WK_CGMINER_REFUSED" }));
  state.setMinerReading("m-ro", reading());
  state.setMinerReading(
    "m-board",
    reading({ boards: [board(1, 33, 70), board(2, 0, 40), board(3, 33, 71)] }),
  );
  state.setMinerReading("m-fault", reading({ state: "faulted", reason: "no hashboard answers" }));
  state.setMinerReading(
    "m-api",
    reading({ state: "faulted", reason: "WK_FIRMWARE_CHANGED: summary.MHS av gone" }),
  );
  const opts = {
    now: T,
    isExcluded: (id: string) => id === "m-away",
    driverOf: (id: string) =>
      id === "m-ro"
        ? { dialect: "cgminer", capabilities: [], withdrawn: [] }
        : { dialect: "antminer", capabilities: ["sleep", "wake"], withdrawn: [] },
  };
  const judge = (devices: Parameters<typeof listProblems>[0]["devices"]) =>
    listProblems({ site: { signals: [] }, devices, outageSince: () => T - 30_000, now: T });

  const full = judge(devicesView(state, opts));
  const lean = judge(problemDevicesView(state, opts));
  assert.deepEqual(lean, full);
  const kinds = new Set(full.map((p) => p.kind));
  for (const k of [
    "unreachable",
    "hot",
    "fan-failed",
    "wrong-pool",
    "firmware-changed",
    "cannot-shed",
    "faulted",
  ])
    assert.ok(kinds.has(k as never), `the fixture raises ${k}: ${[...kinds].join(", ")}`);
  assert.ok(
    !full.some((p) => p.id === "m-away" || p.id === "m-ok"),
    "excluded and healthy miners raise nothing",
  );
});
