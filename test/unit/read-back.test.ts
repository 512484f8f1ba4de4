// A write's read-back as the site's reading of the miner (agent/site/read-back.ts,
// SiteState.setMinerReadBack): what the write changes comes from the read-back,
// the rest (a partial read-back's missing detail) from the poll before it; a poll
// that began before the read-back is left out, as the poller is told.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Poller } from "../../agent/devices/poller.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { mergeReadBack } from "../../agent/site/read-back.ts";
import { SiteState } from "../../agent/site/state.ts";
import { loadConfig } from "../../config/load.ts";
import { minerReading } from "../helpers/readings.ts";

const T = Date.parse("2026-12-06T12:00:00Z");

/** A poll of the whole miner: detail read with it. */
const polled = minerReading({
  at: T,
  model: "S21",
  firmware: "LuxOS 2026.11",
  chipTempMaxC: 71,
  boardTempsC: [60, 61, 62],
  fanRpm: [5400, 5400],
  powerLimitW: 3500,
  minPowerLimitW: 1800,
  uptimeS: 5000,
});

/** LuxOS's read-back: summary, power and curtail mode, nothing else. */
const readBack = minerReading({
  at: T + 4000,
  state: "sleeping",
  hashrateThs: 0,
  powerW: 90,
  powerLimitW: null,
  uptimeS: 5004,
});

test("the read-back's state, hashrate and power; the poll's detail, range, model and limit carried over", () => {
  const m = mergeReadBack(polled, readBack);
  assert.equal(m.at, T + 4000);
  assert.equal(m.state, "sleeping");
  assert.equal(m.hashrateThs, 0);
  assert.equal(m.powerW, 90);
  assert.equal(m.uptimeS, 5004);
  // not in the read-back: the poll's
  assert.equal(m.powerLimitW, 3500);
  assert.equal(m.minPowerLimitW, 1800);
  assert.equal(m.model, "S21");
  assert.equal(m.firmware, "LuxOS 2026.11");
  assert.equal(m.chipTempMaxC, 71);
  assert.deepEqual(m.fanRpm, [5400, 5400]);
  // …and they are as old as the poll
  assert.equal(m.detailAt, T);
  // a limit the read-back reports is the new one
  assert.equal(mergeReadBack(polled, { ...readBack, state: "hashing", powerLimitW: 2800 }).powerLimitW, 2800);
  // detail carried over already (a summary-only poll) keeps its own age; never read stays never read
  assert.equal(mergeReadBack({ ...polled, detailAt: T - 60_000 }, readBack).detailAt, T - 60_000);
  assert.equal(mergeReadBack({ ...polled, detailAt: null }, readBack).detailAt, null);
  // no poll yet: the read-back as it is
  assert.equal(mergeReadBack(null, readBack), readBack);
});

async function state(): Promise<SiteState> {
  const dir = mkdtempSync(join(tmpdir(), "wk-read-back-"));
  writeFileSync(
    join(dir, "site.yaml"),
    [
      "site: { id: rb, timezone: UTC, contractLimitW: 1MW }",
      "store: { path: ./s.db }",
      "miners:",
      "  - { id: m1, host: 10.1.0.1 }",
      "  - { id: m2, host: 10.1.0.2 }",
    ].join("\n"),
  );
  return new SiteState((await loadConfig(join(dir, "site.yaml"))).config);
}

test("the site shows the read-back; an unreachable one is the poller's to judge; a poll begun before it is left out", async () => {
  const s = await state();
  s.setMinerReading("m1", polled);
  s.setMinerReadBack("m1", readBack);
  const r = s.miners.get("m1")!.reading!;
  assert.equal(r.state, "sleeping");
  assert.equal(r.chipTempMaxC, 71);
  // the estimate of the site's draw counts what the read-back shows
  assert.equal(s.snapshot(T + 4000).classes.mining.powerW, 90);
  // a failed read-back (the miner did not answer) does not overwrite what was read
  s.setMinerReadBack("m1", minerReading({ at: T + 5000, state: "unreachable", powerW: null }));
  assert.equal(s.miners.get("m1")!.reading!.state, "sleeping");
  // polls: one begun before the read-back may show the miner as it was before the write
  assert.equal(s.predatesReadBack("m1", T + 3000), true);
  assert.equal(s.predatesReadBack("m1", T + 4000), false);
  // a miner never written to: every poll counts
  assert.equal(s.predatesReadBack("m2", 0), false);
  // a poll that ended after a read-back is newer: the read-back does not overwrite it
  s.setMinerReading("m2", minerReading({ at: T + 9000, state: "hashing" }));
  s.setMinerReadBack("m2", { ...readBack, at: T + 8000 });
  assert.equal(s.miners.get("m2")!.reading!.state, "hashing");
  // unknown ids change nothing
  s.setMinerReadBack("nope", readBack);
  assert.equal(s.miners.has("nope"), false);
});

test("the poller tells when each read began", async () => {
  const starts: number[] = [];
  let clock = 1000;
  const p = new Poller<{ ok: boolean }>({
    name: "t",
    targets: [
      {
        id: "a",
        read: async () => {
          clock += 500; // the read takes half a second
          return { ok: true };
        },
      },
    ],
    intervalMs: 1000,
    concurrency: 1,
    timeoutMs: 500,
    isFailure: () => false,
    onReading: (_id, _r, startedAt) => starts.push(startedAt),
    onError: () => {},
    logger: silentLogger(),
    now: () => clock,
  });
  await p.sweep();
  assert.deepEqual(starts, [1000]);
  assert.equal(clock, 1500);
});
