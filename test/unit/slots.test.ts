// The control loop's counting semaphore: waiters get slots in arrival order
// (the plan's order is the order commands go out), also in a fleet-wide shed's
// queue of 20,000, and idle() resolves once nobody holds or waits.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Slots } from "../../agent/control/slots.ts";

describe("Slots", () => {
  test("at most size holders; the rest in arrival order", async () => {
    const slots = new Slots(2);
    const order: number[] = [];
    await slots.acquire();
    await slots.acquire();
    const waits = [0, 1, 2].map((i) => slots.acquire().then(() => order.push(i)));
    assert.equal(slots.queued, 3);
    slots.release();
    slots.release();
    slots.release();
    await Promise.all(waits);
    assert.deepEqual(order, [0, 1, 2]);
    assert.equal(slots.queued, 0);
  });

  test("a queue of 20,000 is served in order, one release at a time", async () => {
    const n = 20_000;
    const slots = new Slots(1);
    await slots.acquire();
    const order: number[] = [];
    const waits = Array.from({ length: n }, (_, i) => slots.acquire().then(() => order.push(i)));
    for (let i = 0; i < n; i++) {
      slots.release();
      // a waiter that arrives mid-way joins the end of the line
      if (i === n / 2) waits.push(slots.acquire().then(() => order.push(n)));
    }
    slots.release();
    await Promise.all(waits);
    assert.equal(order.length, n + 1);
    assert.ok(
      order.every((v, i) => v === i),
      "served out of order",
    );
    assert.equal(slots.queued, 0);
  });

  test("idle() resolves when no slot is held and nobody waits, or at its limit", async () => {
    const slots = new Slots(1);
    await slots.idle(10); // idle at once
    await slots.acquire();
    const second = slots.acquire();
    let idle = false;
    const wait = slots.idle(60_000).then(() => {
      idle = true;
    });
    slots.release(); // the second holder takes it: not idle yet
    await second;
    await new Promise((r) => setImmediate(r));
    assert.equal(idle, false);
    slots.release();
    await wait;
    assert.equal(idle, true);
    // a holder that never releases: idle() still ends at its limit
    await slots.acquire();
    const t0 = Date.now();
    await slots.idle(30);
    assert.ok(Date.now() - t0 >= 25);
  });

  test("idle() callers during one wait share it: one limit (the first caller's), never a later one", async () => {
    const slots = new Slots(1);
    await slots.acquire(); // held and never released
    const t0 = Date.now();
    const first = slots.idle(40);
    const later = slots.idle(60_000);
    assert.equal(later, first, "one wait, shared");
    await later;
    const waited = Date.now() - t0;
    assert.ok(waited >= 35 && waited < 5000, `let go at the first caller's limit (${waited} ms)`);
    // that wait is over: the next caller starts a fresh one, with its own limit
    const t1 = Date.now();
    const next = slots.idle(30);
    assert.notEqual(next, first);
    await next;
    assert.ok(Date.now() - t1 >= 25);
    // idle at last: a release ends a wait under way at once
    const pending = slots.idle(60_000);
    slots.release();
    await pending;
  });
});
