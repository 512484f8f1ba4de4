import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DeadlineSlots } from "../../agent/devices/deadline-slots.ts";
import { unhook, whenAborted } from "../../drivers/abort.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("DeadlineSlots", () => {
  test("reads started within one slot share it: one signal", () => {
    let nowMs = 1_000_010; // 10 ms into a slot: its deadline falls in (…, 1,010,250]
    const slots = new DeadlineSlots(10_000, () => nowMs); // slots of 250 ms
    const a = slots.join();
    nowMs += 100;
    assert.equal(slots.join(), a, "same slot, same signal");
    nowMs += 300;
    assert.notEqual(slots.join(), a, "a later slot");
    slots.endAll(new Error("done"));
    assert.equal(slots.size, 0);
  });

  test("a slot's deadline is never short of timeoutMs", async () => {
    const slots = new DeadlineSlots(100);
    const t0 = Date.now();
    const a = slots.join();
    let endedAt = 0;
    let why = "";
    a.ends.add((err) => {
      endedAt = Date.now();
      why = err.message;
    });
    await sleep(140);
    assert.ok(endedAt - t0 >= 100, `ended after ${endedAt - t0} ms`);
    assert.equal(why, "no result within 100 ms");
    assert.equal(a.signal.aborted, true);
    assert.equal(slots.size, 0, "an expired slot holds no timer");
  });

  test("a slot whose reads all settled goes, timer and all, once a newer one is current", () => {
    let nowMs = 1_000_000;
    const slots = new DeadlineSlots(200, () => nowMs); // slots of 10 ms
    const first = slots.join();
    const end = () => {};
    first.ends.add(end);
    nowMs += 25;
    const second = slots.join();
    assert.notEqual(first, second);
    assert.equal(slots.size, 2);
    first.ends.delete(end);
    slots.left(first);
    assert.equal(slots.size, 1);
    slots.endAll(new Error("stopped"));
    assert.equal(slots.size, 0);
    assert.equal(second.signal.aborted, true);
    assert.equal(first.signal.aborted, false, "a slot that went early aborts nothing");
  });

  test("keepCurrent false: the newest slot goes too once its work settled (no timer outlives a burst)", () => {
    let nowMs = 1_000_000;
    const slots = new DeadlineSlots(200, () => nowMs, { keepCurrent: false });
    const only = slots.join();
    const end = () => {};
    only.ends.add(end);
    slots.left(only);
    assert.equal(slots.size, 1, "work still in it: kept");
    only.ends.delete(end);
    slots.left(only);
    assert.equal(slots.size, 0, "current and empty: gone, timer and all");
    assert.equal(only.signal.aborted, false);
    nowMs += 1;
    assert.notEqual(slots.join(), only, "the next join opens a fresh slot");
    slots.endAll(new Error("stopped"));
  });

  test("endAll ends every read in flight with the reason given", () => {
    const slots = new DeadlineSlots(10_000);
    const seen: string[] = [];
    slots.join().ends.add((err) => seen.push(err.message));
    slots.endAll(new Error("poller stopped"));
    assert.deepEqual(seen, ["poller stopped"]);
    assert.equal(slots.size, 0);
  });
});

describe("whenAborted", () => {
  test("many callbacks on one signal: one EventTarget listener, each called once, unhooked ones not", () => {
    const c = new AbortController();
    let listeners = 0;
    const add = c.signal.addEventListener.bind(c.signal);
    c.signal.addEventListener = ((...args: Parameters<typeof add>) => {
      listeners++;
      add(...args);
    }) as typeof add;
    const called: number[] = [];
    const fns = Array.from({ length: 100 }, (_, i) => () => called.push(i));
    for (const f of fns) whenAborted(c.signal, f);
    for (const f of fns.slice(0, 50)) unhook(c.signal, f);
    assert.equal(listeners, 1);
    c.abort();
    c.abort();
    assert.deepEqual(
      called,
      Array.from({ length: 50 }, (_, i) => i + 50),
    );
  });
});
