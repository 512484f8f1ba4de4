// Poll tiers in the driver (MinerDriver with a scripted dialect, a fake of our own
// interface; every real dialect meets the same through its simulator in the miner
// contract): the essentials every poll, the detail every period and carried between
// with its time, a change of state or a miner back from away read in full.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { noteHealth } from "../../agent/devices/miner-health.ts";
import { minerPollPeriods } from "../../agent/devices/pollers.ts";
import { failedReading } from "../../drivers/cgminer/client.ts";
import { type DialectContext, type DialectSpec, MinerDriver } from "../../drivers/cgminer/driver.ts";
import type { MinerReading, MinerState } from "../../drivers/types.ts";

const HOT: MinerReading["boards"] = [
  { index: 1, hashrateThs: 30, idealThs: 33, boardTempC: 60, chipTempC: 70, chips: 126, status: null },
];

/** A dialect that splits its read: a full read gives temperatures that go up each time; a summary read gives none. */
function tiered(state: () => MinerState) {
  const asked: boolean[] = [];
  let fullReads = 0;
  const spec: DialectSpec = {
    name: "cgminer",
    capabilities: () => [],
    read: async (ctx: DialectContext) => {
      const detail = ctx.detail !== false;
      asked.push(detail);
      const s = state();
      if (s === "unreachable") return failedReading(ctx.now(), "unreachable", "WK_CGMINER_REFUSED: refused");
      const base: MinerReading = {
        ...failedReading(ctx.now(), s, null as unknown as string),
        reason: null,
        hashrateThs: s === "hashing" ? 100 : 0,
        powerW: s === "hashing" ? 3200 : 20,
        firmware: detail ? "bmminer 2.0" : "cgminer 4.9 (from summary)",
        model: detail ? "Antminer S19" : null,
      };
      if (!detail) return { ...base, detailAt: null };
      fullReads++;
      return {
        ...base,
        boardTempsC: [50 + fullReads],
        chipTempMaxC: 70 + fullReads,
        fanRpm: [4000],
        boards: HOT,
        pools: [{ url: "stratum+tcp://pool:3333", user: "w", status: "Alive" }],
      };
    },
    write: async () => {},
  };
  return { spec, asked };
}

describe("poll tiers", () => {
  test("without a detail period every read is a full one", async () => {
    const { spec, asked } = tiered(() => "hashing");
    const d = new MinerDriver(spec, { host: "x", port: 1 });
    for (let i = 0; i < 3; i++) assert.equal((await d.read()).detailAt, undefined);
    assert.deepEqual(asked, [true, true, true]);
  });

  test("the detail every period, carried between with its time and the unit's identity", async () => {
    let now = 1_000_000;
    const { spec, asked } = tiered(() => "hashing");
    const d = new MinerDriver(
      spec,
      { host: "x", port: 1 },
      { detailEveryMs: 30_000, random: () => 1, now: () => now },
    );
    const first = await d.read();
    assert.equal(first.chipTempMaxC, 71);
    const seen: MinerReading[] = [];
    for (let i = 0; i < 6; i++) {
      now += 5000;
      seen.push(await d.read());
    }
    // 5, 10, 15, 20, 25 s: summary reads carrying the first read's detail; 30 s: a full one
    assert.deepEqual(asked, [true, false, false, false, false, false, true]);
    for (const r of seen.slice(0, 5)) {
      assert.equal(r.detailAt, first.at);
      assert.equal(r.chipTempMaxC, 71);
      assert.deepEqual(r.boardTempsC, [51]);
      assert.deepEqual(r.pools, first.pools);
      assert.equal(r.firmware, "bmminer 2.0", "identity from the full read, not the summary's");
      assert.equal(r.model, "Antminer S19");
      assert.equal(r.at, now - 5000 * (6 - seen.indexOf(r) - 1), "essentials of their own time");
    }
    assert.equal(seen[5]!.detailAt, undefined);
    assert.equal(seen[5]!.chipTempMaxC, 72);
  });

  test("a full read reporting the pools it reported before keeps the earlier objects; a change takes the new", async () => {
    let now = 1_000_000;
    let status = "Alive";
    const spec: DialectSpec = {
      name: "cgminer",
      capabilities: () => [],
      // every read a full one, each with pools of its own making
      read: async (ctx: DialectContext) => ({
        ...failedReading(ctx.now(), "hashing", null as unknown as string),
        reason: null,
        hashrateThs: 100,
        pools: [{ url: "stratum+tcp://pool:3333", user: "w", status }],
      }),
      write: async () => {},
    };
    const d = new MinerDriver(spec, { host: "x", port: 1 }, { now: () => now });
    const first = await d.read();
    now += 5000;
    const second = await d.read();
    assert.equal(second.pools, first.pools);
    status = "Dead";
    now += 5000;
    const third = await d.read();
    assert.notEqual(third.pools, first.pools);
    assert.equal(third.pools[0]!.status, "Dead");
  });

  test("the first period is spread over the fleet", async () => {
    let now = 0;
    const { spec, asked } = tiered(() => "hashing");
    const d = new MinerDriver(
      spec,
      { host: "x", port: 1 },
      { detailEveryMs: 30_000, random: () => 0.25, now: () => now },
    );
    for (let i = 0; i < 4; i++) {
      await d.read();
      now += 5000;
    }
    // due 7.5 s after the first read: the read at 10 s
    assert.deepEqual(asked, [true, false, true, false]);
  });

  test("a change of state is read in full at once; a miner back from away is read in full", async () => {
    let now = 0;
    let state: MinerState = "hashing";
    const { spec, asked } = tiered(() => state);
    const d = new MinerDriver(
      spec,
      { host: "x", port: 1 },
      { detailEveryMs: 60_000, random: () => 1, now: () => now },
    );
    await d.read();
    now += 5000;
    state = "sleeping";
    const slept = await d.read();
    assert.equal(slept.state, "sleeping");
    assert.equal(slept.detailAt, undefined, "the summary saw the change, a full read judged it");
    assert.deepEqual(asked, [true, false, true]);
    now += 5000;
    state = "unreachable";
    assert.equal((await d.read()).state, "unreachable");
    now += 5000;
    state = "sleeping";
    const back = await d.read();
    assert.equal(back.detailAt, undefined);
    assert.deepEqual(asked, [true, false, true, false, true]);
  });
});

describe("poll periods from the config", () => {
  test("the detail six polls apart unless set, never more often than the polls", () => {
    assert.deepEqual(
      minerPollPeriods({ polling: { minersS: 5, minerDetailS: null, metersS: 1, gpuNodesS: 10 } }),
      {
        pollMs: 5000,
        detailMs: 30_000,
      },
    );
    assert.deepEqual(
      minerPollPeriods({ polling: { minersS: 5, minerDetailS: 60, metersS: 1, gpuNodesS: 10 } }),
      {
        pollMs: 5000,
        detailMs: 60_000,
      },
    );
    // a test or bench override of the poll period takes the default detail with it
    assert.deepEqual(
      minerPollPeriods({ polling: { minersS: 5, minerDetailS: null, metersS: 1, gpuNodesS: 10 } }, 300),
      { pollMs: 300, detailMs: 1800 },
    );
  });
});

describe("miner health with carried detail", () => {
  test("a dead board is dated by the detail read that showed it", () => {
    const dead = {
      ...failedReading(50_000, "hashing", null as unknown as string),
      reason: null,
      hashrateThs: 60,
      detailAt: 20_000,
      boards: [
        { index: 1, hashrateThs: 30, idealThs: 33, boardTempC: 60, chipTempC: 70, chips: 126, status: null },
        { index: 2, hashrateThs: 0, idealThs: 33, boardTempC: null, chipTempC: null, chips: 0, status: null },
      ],
    } satisfies MinerReading;
    const h = noteHealth(undefined, dead, null);
    assert.deepEqual(h.deadBoards, [2]);
    assert.equal(h.deadSince, 20_000);
  });
});
