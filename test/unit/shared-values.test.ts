// Values the fleet repeats, stored once (drivers/shared.ts, agent/devices/miner-health.ts):
// equal texts from separate parses come back as one copy, the tables stay bounded, capability
// lists and sets are one per combination, and a miner's health record shares what most
// miners have alike. What a caller sees of each value does not change.
import assert from "node:assert/strict";
import { test } from "node:test";
import { noteHealth } from "../../agent/devices/miner-health.ts";
import {
  samePoolsKept,
  sharedCapabilities,
  sharedNumbers,
  sharedText,
  shareReadingTexts,
} from "../../drivers/shared.ts";
import type { MinerCapability } from "../../drivers/types.ts";
import { minerReading } from "../helpers/readings.ts";

/** A string with the same text as `s`, made at run time (not the literal's interned copy). */
const fresh = (s: string) => [...s].join("");

test("equal texts from separate parses come back as the first one's copy; null and long ones as they are", () => {
  const a = sharedText(fresh("stratum+tcp://pool.example:3333"));
  const b = fresh("stratum+tcp://pool.example:3333");
  assert.equal(sharedText(b), a);
  assert.equal(sharedText(null), null);
  assert.equal(sharedText(undefined), undefined);
  const long = "x".repeat(300);
  assert.equal(sharedText(long), long);
});

test("the table is bounded: past its size, new texts are kept as they came and the old still share", () => {
  const first = sharedText(fresh("braiins-os 24.09"));
  for (let i = 0; i < 10_000; i++) sharedText(`error ${i}`);
  assert.equal(sharedText(fresh("braiins-os 24.09")), first);
  const late = fresh("a text seen only after the table filled");
  assert.equal(sharedText(late), late);
});

test("a reading's fleet-wide texts are swapped in place; its values read the same", () => {
  const url = fresh("stratum+tcp://shared.example:3333");
  const known = sharedText(fresh(url));
  const pool = { url, user: "wk.m-1", status: "Alive" };
  const r = minerReading({
    firmware: fresh("bmminer 2.0.0"),
    model: fresh("Antminer S19"),
    pools: [pool],
    boards: [
      { index: 1, hashrateThs: 30, idealThs: 31, boardTempC: 60, chipTempC: 70, chips: 76, status: "Alive" },
    ],
  });
  const before = JSON.stringify(r);
  const out = shareReadingTexts(r);
  assert.equal(out, r, "the same reading, changed in place");
  assert.equal(JSON.stringify(out), before);
  assert.equal(
    out.pools[0],
    pool,
    "the pool objects stay the reading's own (a dialect's notes hold them too)",
  );
  assert.equal(pool.url, known);
  assert.equal(shareReadingTexts(minerReading({ firmware: fresh("bmminer 2.0.0") })).firmware, out.firmware);
});

test("capability lists and sets: one frozen pair per combination, whatever array it came from", () => {
  const one = sharedCapabilities(["sleep", "wake", "setPowerLimit"]);
  const two = sharedCapabilities(["sleep", "wake", "setPowerLimit"] as MinerCapability[]);
  assert.equal(one.list, two.list);
  assert.equal(one.set, two.set);
  assert.ok(Object.isFrozen(one.list));
  assert.deepEqual([...one.set], ["sleep", "wake", "setPowerLimit"]);
  const fewer = sharedCapabilities(["sleep", "wake"]);
  assert.notEqual(fewer.set, one.set);
  assert.equal(sharedCapabilities([]).set.size, 0);
});

test("number lists: one frozen copy per distinct list, whatever array it came from", () => {
  const one = sharedNumbers([2150, 3068]);
  const two = sharedNumbers([2150, 3068]);
  assert.equal(one, two);
  assert.ok(Object.isFrozen(one));
  assert.deepEqual(one, [2150, 3068]);
  assert.notEqual(sharedNumbers([2150, 3100]), one);
  const mine = [1, 2, 3];
  const kept = sharedNumbers(mine);
  assert.notEqual(kept, mine, "a caller's array is never frozen under it");
  assert.equal(Object.isFrozen(mine), false);
  // bounded: past the table's size a list comes back frozen as it came, the known ones still shared
  for (let i = 0; i < 2000; i++) sharedNumbers([i, i + 0.5]);
  assert.equal(sharedNumbers([2150, 3068]), one);
  const late = sharedNumbers([7, 7, 7]);
  assert.ok(Object.isFrozen(late));
  assert.deepEqual(late, [7, 7, 7]);
});

test("pools: the earlier objects when a read reports the same ones, the new ones when any differs", () => {
  const before = [
    { url: "stratum+tcp://a:3333", user: "wk.1", status: "Alive" },
    { url: "stratum+tcp://b:3333", user: "wk.1", status: "Alive" },
  ];
  const same = before.map((p) => ({ url: fresh(p.url), user: fresh(p.user), status: fresh(p.status) }));
  assert.equal(samePoolsKept(before, same), before);
  for (const change of [
    [before[0]!, { ...before[1]!, status: "Dead" }],
    [before[0]!, { ...before[1]!, user: "wk.2" }],
    [before[1]!, before[0]!],
    [before[0]!],
    [],
  ]) {
    assert.equal(samePoolsKept(before, change), change);
  }
  assert.equal(samePoolsKept(null, same), same);
  assert.equal(samePoolsKept(undefined, same), same);
});

test("health records share the empty dead-board list and the default limits; a found dead board is its own", () => {
  const T = Date.parse("2026-12-05T12:00:00Z");
  const board = (index: number, hashrateThs: number) => ({
    index,
    hashrateThs,
    idealThs: null,
    boardTempC: 60,
    chipTempC: 70,
    chips: 76,
    status: null,
  });
  const healthy = minerReading({ at: T, boards: [board(1, 30), board(2, 30)] });
  const a = noteHealth(undefined, healthy, null);
  const b = noteHealth(undefined, { ...healthy, at: T + 1 }, null);
  assert.equal(a.deadBoards, b.deadBoards);
  assert.equal(a.hot, b.hot);
  assert.deepEqual(a.hot, { chipC: 90, boardC: null, fromModel: false });
  const dead = noteHealth(a, minerReading({ at: T + 2, boards: [board(1, 30), board(2, 0)] }), null);
  assert.deepEqual(dead.deadBoards, [2]);
  assert.equal(dead.deadSince, T + 2);
  // the same dead boards again: the record keeps its list and its since
  const again = noteHealth(dead, minerReading({ at: T + 3, boards: [board(1, 30), board(2, 0)] }), null);
  assert.equal(again.deadBoards, dead.deadBoards);
  assert.equal(again.deadSince, T + 2);
});
