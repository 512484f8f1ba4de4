// A miner's firmware changing under the agent: the first firmware a run sees is
// the known one; a different one is a change, reported (devices view, problems)
// for 24 h, then taken as the known one.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { devicesView } from "../../agent/site/device-rows.ts";
import { FIRMWARE_CHANGE_MS, SiteState } from "../../agent/site/state.ts";
import { loadConfig } from "../../config/load.ts";
import type { MinerReading } from "../../drivers/types.ts";
import { minerReading } from "../helpers/readings.ts";

const reading = (at: number, firmware: string | null): MinerReading =>
  minerReading({ at, firmware, model: "Antminer S19" });

test("a changed firmware is reported for 24 h, then known; back to the known one clears it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wk-fw-"));
  writeFileSync(
    join(dir, "site.yaml"),
    "site: { id: fw, timezone: UTC, contractLimitW: 1MW }\nstore: { path: ./l.db }\nminers: [{ id: m1, host: 10.1.0.1 }]\n",
  );
  const state = new SiteState((await loadConfig(join(dir, "site.yaml"))).config);
  const change = (now: number) => devicesView(state, { now }).miners[0]!.firmwareChange;
  const t = 1_000_000;
  state.setMinerReading("m1", reading(t, "bmminer 2.0"));
  assert.equal(change(t), null);
  state.setMinerReading("m1", reading(t + 1, null)); // an unreachable read says nothing
  state.setMinerReading("m1", reading(t + 2, "LUXminer 2025.1"));
  assert.deepEqual(change(t + 3), { from: "bmminer 2.0", to: "LUXminer 2025.1", at: t + 2 });
  state.setMinerReading("m1", reading(t + 10, "bmminer 2.0"));
  assert.equal(change(t + 11), null, "rolled back: nothing to report");
  state.setMinerReading("m1", reading(t + 20, "LUXminer 2025.1"));
  assert.equal(change(t + 20 + FIRMWARE_CHANGE_MS), null, "reported 24 h at most");
  state.setMinerReading("m1", reading(t + 30 + FIRMWARE_CHANGE_MS, "LUXminer 2025.1"));
  state.setMinerReading("m1", reading(t + 40 + FIRMWARE_CHANGE_MS, "LUXminer 2025.1"));
  assert.equal(change(t + 41 + FIRMWARE_CHANGE_MS), null, "the new firmware is the known one now");
});
