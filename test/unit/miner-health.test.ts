// Hashing health from per-board readings and the model catalogue: per-board
// figures parsed from Antminer stats and devs rows, the expected hashrate
// (model nominal, scaled by a power limit), a sustained shortfall, a board at
// 0 while the others hash, and "hot" by the model's limit; then the problems
// they make, worst first.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  deadBoardsOf,
  expectedHashrateThs,
  HOT_CHIP_C,
  LOW_HASHRATE_SUSTAIN_MS,
  type MinerHealth,
  noteHealth,
} from "../../agent/devices/miner-health.ts";
import type { DevicesView, SiteView } from "../../agent/http/types.ts";
import { listProblems } from "../../agent/site/problems.ts";
import { boardsFromDevs, boardsFromStats } from "../../drivers/cgminer/boards.ts";
import { type KnownModel, MinerModelSchema } from "../../drivers/cgminer/models.ts";
import { normalizeMiner } from "../../drivers/cgminer/reading.ts";
import type { MinerBoard, MinerReading } from "../../drivers/types.ts";

const T = Date.parse("2026-12-04T12:00:00Z");

const S19JPRO: KnownModel = {
  ...MinerModelSchema.parse({
    name: "Antminer S19j Pro",
    nominalW: 3068,
    nominalThs: 104,
    powerLimitW: { min: 2000, max: 3400 },
    sleepW: 30,
    wakeUpS: 300,
    hotChipC: 85,
  }),
  origin: "test",
};

function board(index: number, ths: number, o: Partial<MinerBoard> = {}): MinerBoard {
  return {
    index,
    hashrateThs: ths,
    idealThs: 34.7,
    boardTempC: 60,
    chipTempC: 72,
    chips: 126,
    status: null,
    ...o,
  };
}

function reading(o: Partial<MinerReading> = {}): MinerReading {
  return {
    at: T,
    state: "hashing",
    reason: null,
    hashrateThs: 104,
    powerW: 3068,
    powerEstimated: false,
    powerLimitW: null,
    boardTempsC: [60, 61, 62],
    chipTempMaxC: 74,
    fanRpm: [5600, 5600, 5600, 5600],
    boards: [board(1, 34.7), board(2, 34.6), board(3, 34.7)],
    pools: [],
    uptimeS: 86_400,
    firmware: "bmminer 1.0.0",
    model: "Antminer S19j Pro",
    ...o,
  };
}

describe("per-board figures from the firmware", () => {
  test("Antminer stats: chain rate (rate_unit), ideal, chips, PCB and chip temperatures; empty slots skipped", () => {
    const stats = {
      STATS: [
        { BMMiner: "1.0.0", Type: "Antminer S19j Pro" },
        {
          rate_unit: "GH",
          chain_rate1: "34712.50",
          chain_rate2: "0.00",
          chain_rate3: "34690.11",
          // slots 4–5 exist in the row as placeholders on older units: all zero
          chain_rate4: "",
          chain_acn4: 0,
          temp4: 0,
          chain_rateideal1: 34666.66,
          chain_rateideal2: 34666.66,
          chain_rateideal3: 34666.66,
          chain_acn1: 126,
          chain_acn2: 0,
          chain_acn3: 126,
          temp2_1: 61,
          temp2_2: 44,
          temp2_3: 63,
          temp1: 73,
          temp2: 45,
          temp3: 75,
        },
      ],
    };
    const boards = boardsFromStats(stats.STATS[1] as never);
    assert.deepEqual(
      boards.map((b) => [b.index, b.hashrateThs, b.idealThs, b.chips, b.boardTempC, b.chipTempC]),
      [
        [1, 34.7125, 34.66666, 126, 61, 73],
        [2, 0, 34.66666, 0, 44, 45],
        [3, 34.69011, 34.66666, 126, 63, 75],
      ],
    );
    // through the whole normaliser too
    const r = normalizeMiner({
      at: T,
      summary: { STATUS: [{ STATUS: "S" }], SUMMARY: [{ "GHS 5s": "69402.61" }] },
      stats: stats as never,
    });
    assert.equal(r.boards?.length, 3);
    assert.deepEqual(deadBoardsOf(r.boards!), [2]);
  });

  test("LuxOS dash strings for temperatures; devs rows where stats has no chains", () => {
    const lux = boardsFromStats({
      chain_rate0: "35000",
      chain_acn0: 126,
      temp_pcb0: "55-57-60-61",
      temp_chip0: "70-71-77-76",
    } as never);
    assert.deepEqual(
      lux.map((b) => [b.index, b.hashrateThs, b.boardTempC, b.chipTempC]),
      [[0, 35, 61, 77]],
    );
    const devs = boardsFromDevs([
      { ASC: 0, Enabled: "Y", Status: "Alive", "MHS 5s": 34_000_000, Temperature: 61 },
      { ASC: 1, Enabled: "Y", Status: "Dead", "MHS 5s": 0, Temperature: 40 },
      { ASC: 2, Enabled: "N", Status: "Alive", "MHS 5s": 0, Temperature: 0 },
    ] as never);
    assert.deepEqual(
      devs.map((b) => [b.index, b.hashrateThs, b.boardTempC, b.status]),
      [
        [0, 34, 61, "Alive"],
        [1, 0, 40, "Dead"],
        [2, 0, null, "Disabled"],
      ],
    );
    assert.deepEqual(deadBoardsOf(devs), [1, 2]);
  });

  test("a board at 0 is dead only while another hashes (all at 0 is a stopped miner, not a board)", () => {
    assert.deepEqual(deadBoardsOf([board(1, 0), board(2, 0), board(3, 0)]), []);
    assert.deepEqual(deadBoardsOf([board(1, 30), board(2, 30, { chips: 0 }), board(3, 30)]), [2]);
  });
});

describe("health over readings", () => {
  test("expected hashrate: the model's nominal, scaled by a power limit below its nameplate; else the boards' ideal", () => {
    assert.equal(expectedHashrateThs(reading(), S19JPRO), 104);
    assert.equal(expectedHashrateThs(reading({ powerLimitW: 2301 }), S19JPRO), 78);
    // a limit above nameplate asks for no more than nominal
    assert.equal(expectedHashrateThs(reading({ powerLimitW: 3300 }), S19JPRO), 104);
    assert.ok(Math.abs(expectedHashrateThs(reading(), null)! - 104.1) < 1e-9);
    assert.equal(expectedHashrateThs(reading({ boards: [] }), null), null);
  });

  test("slow below 80 % of expected is timed from the first slow reading; one good reading resets it; ramping after boot is not slow", () => {
    let h: MinerHealth | undefined;
    h = noteHealth(h, reading({ at: T, hashrateThs: 80 }), S19JPRO);
    assert.equal(h.lowSince, T);
    h = noteHealth(h, reading({ at: T + 60_000, hashrateThs: 79 }), S19JPRO);
    assert.equal(h.lowSince, T, "kept from the first");
    h = noteHealth(h, reading({ at: T + 120_000, hashrateThs: 90 }), S19JPRO);
    assert.equal(h.lowSince, null, "a reading at 87 % ends the run");
    h = noteHealth(h, reading({ at: T, hashrateThs: 20, uptimeS: 120 }), S19JPRO);
    assert.equal(h.lowSince, null, "within the model's wake-up time");
    // trimmed to 2,301 W it should do ~78 TH/s: 70 is fine
    h = noteHealth(undefined, reading({ hashrateThs: 70, powerLimitW: 2301 }), S19JPRO);
    assert.equal(h.lowSince, null);
    h = noteHealth(undefined, reading({ state: "sleeping", hashrateThs: 0 }), S19JPRO);
    assert.equal(h.lowSince, null, "asleep is not slow");
  });

  test("dead boards keep their since while the same boards stay dead", () => {
    const dead = [board(1, 34.7), board(2, 0, { chips: 0 }), board(3, 34.7)];
    let h = noteHealth(undefined, reading({ at: T, boards: dead }), S19JPRO);
    assert.deepEqual([h.deadBoards, h.deadSince], [[2], T]);
    h = noteHealth(h, reading({ at: T + 5000, boards: dead }), S19JPRO);
    assert.equal(h.deadSince, T);
    h = noteHealth(h, reading({ at: T + 10_000 }), S19JPRO);
    assert.deepEqual([h.deadBoards, h.deadSince], [[], null]);
  });

  test("a reading that changes nothing keeps the record itself; a change of dead boards makes a new one", () => {
    const h0 = noteHealth(undefined, reading({ at: T }), S19JPRO);
    assert.equal(noteHealth(h0, reading({ at: T + 5000 }), S19JPRO), h0);
    const dead = [board(1, 34.7), board(2, 0), board(3, 0, { status: "Dead" })];
    const h1 = noteHealth(h0, reading({ at: T + 10_000, boards: dead }), S19JPRO);
    assert.deepEqual([h1.deadBoards, h1.deadSince], [[2, 3], T + 10_000]);
    assert.equal(noteHealth(h1, reading({ at: T + 15_000, boards: dead }), S19JPRO), h1);
    // another set of dead boards, in the same number: a new since
    const other = [board(1, 0), board(2, 34.7), board(3, 0)];
    const h2 = noteHealth(h1, reading({ at: T + 20_000, boards: other }), S19JPRO);
    assert.deepEqual([h2.deadBoards, h2.deadSince], [[1, 3], T + 20_000]);
    // every board at 0: a stopped miner, no dead board
    const h3 = noteHealth(h2, reading({ at: T + 25_000, boards: [board(1, 0), board(2, 0)] }), S19JPRO);
    assert.deepEqual([h3.deadBoards, h3.deadSince], [[], null]);
    // board temperatures over a model's board limit
    const hotBoard: KnownModel = { ...S19JPRO, hotBoardC: 70 };
    const h4 = noteHealth(undefined, reading({ at: T, boardTempsC: [60, 71] }), hotBoard);
    assert.equal(h4.hotSince, T);
    const h5 = noteHealth(
      undefined,
      reading({ at: T, boards: [board(1, 34.7, { boardTempC: 72 })] }),
      hotBoard,
    );
    assert.equal(h5.hotSince, T);
    assert.equal(noteHealth(undefined, reading({ at: T }), hotBoard).hotSince, null);
  });

  test("hot by the model's chip limit where it gives one, else the default", () => {
    let h = noteHealth(undefined, reading({ chipTempMaxC: 86 }), S19JPRO);
    assert.deepEqual(h.hot, { chipC: 85, boardC: null, fromModel: true });
    assert.equal(h.hotSince, T);
    h = noteHealth(undefined, reading({ chipTempMaxC: 86, model: "Unknown 1" }), null);
    assert.deepEqual([h.hot.chipC, h.hotSince], [HOT_CHIP_C, null]);
  });
});

describe("the problems they make", () => {
  function row(id: string, r: MinerReading, health: MinerHealth | null, o: Record<string, unknown> = {}) {
    return {
      id,
      class: "mining",
      host: "10.1.0.1",
      port: 4028,
      dialect: "luxos",
      configuredDialect: "luxos",
      capabilities: ["sleep", "wake", "setPowerLimit"],
      withdrawn: [],
      location: `rack-${id}`,
      priority: 0,
      excluded: false,
      poolPolicy: null,
      firmwareChange: null,
      health,
      ...r,
      at: null,
      ageS: 1,
      ...o,
    };
  }

  test("dead board, low hashrate after its sustain, hot by the model; worst first with unreachable and cannot-shed", () => {
    const deadR = reading({ boards: [board(1, 34.7), board(2, 0, { chips: 0 }), board(3, 34.7)] });
    const slowR = reading({ hashrateThs: 70 });
    const hotR = reading({ chipTempMaxC: 88, boards: [board(1, 34.7, { chipTempC: 88 }), board(2, 34.7)] });
    const slowH = noteHealth(undefined, { ...slowR, at: T - LOW_HASHRATE_SUSTAIN_MS - 1 }, S19JPRO);
    const recentSlowH = noteHealth(undefined, { ...slowR, at: T - 60_000 }, S19JPRO);
    const devices = {
      miners: [
        row("m-ro", reading(), null, { dialect: "cgminer", capabilities: [] }),
        row("m-slow", slowR, noteHealth(slowH, slowR, S19JPRO)),
        row("m-slow-recent", slowR, noteHealth(recentSlowH, slowR, S19JPRO)),
        row("m-dead", deadR, noteHealth(undefined, deadR, S19JPRO)),
        row("m-hot", hotR, noteHealth(undefined, hotR, S19JPRO)),
        row("m-down", reading({ state: "unreachable", hashrateThs: null }), null),
        row("m-ok", reading(), noteHealth(undefined, reading(), S19JPRO)),
      ],
      meters: [],
      gpuNodes: [],
    } as unknown as DevicesView;
    const p = listProblems({
      site: { signals: [] } as unknown as SiteView,
      devices,
      outageSince: () => null,
      now: T,
    });
    assert.deepEqual(
      p.map((x) => `${x.kind} ${x.id}`),
      ["unreachable m-down", "hot m-hot", "dead-board m-dead", "low-hashrate m-slow", "cannot-shed m-ro"],
    );
    const by = new Map(p.map((x) => [x.id, x]));
    assert.equal(by.get("m-dead")!.message, "hashboard 2 at 0 while 2 of 3 hash");
    assert.equal(by.get("m-dead")!.since, new Date(T).toISOString());
    assert.match(by.get("m-dead")!.fix, /reseat/);
    assert.match(
      by.get("m-slow")!.message,
      /^70 TH\/s of 104 TH\/s expected \(67 %, below 80 % for 10 min\)$/,
    );
    assert.equal(by.get("m-slow")!.since, new Date(T - LOW_HASHRATE_SUSTAIN_MS - 1).toISOString());
    assert.equal(by.get("m-hot")!.message, "chips at 88 °C (board 1), the model's limit 85 °C");
  });

  test("a dead board's lost hashrate is not reported twice as a slow miner", () => {
    const deadR = reading({
      hashrateThs: 69,
      boards: [board(1, 34.7), board(2, 0, { chips: 0 }), board(3, 34.7)],
    });
    const h = noteHealth(
      noteHealth(undefined, { ...deadR, at: T - LOW_HASHRATE_SUSTAIN_MS }, S19JPRO),
      deadR,
      S19JPRO,
    );
    const p = listProblems({
      site: { signals: [] } as unknown as SiteView,
      devices: { miners: [row("m", deadR, h)], meters: [], gpuNodes: [] } as unknown as DevicesView,
      outageSince: () => null,
      now: T,
    });
    assert.deepEqual(
      p.map((x) => x.kind),
      ["dead-board"],
    );
  });
});
