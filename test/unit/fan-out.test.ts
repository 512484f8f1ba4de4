// A tick's fan-out, commands first: every command of the tick goes out before
// any follow-up (read-back, logoff) takes the wire; a hung send holds the
// follow-ups for holdMaxMs at most; the three bounds hold; an action that ends
// at any point gives back every place it held.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type ActionTurn, FanOut } from "../../agent/control/fan-out.ts";

const tick = () => new Promise((r) => setImmediate(r));

/** Every place is free again, and nobody waits for one. */
function allFree(f: FanOut): void {
  for (const slots of [f.sending, f.following, f.open]) {
    assert.equal(slots.inUse, 0);
    assert.equal(slots.queued, 0);
  }
}

describe("FanOut", () => {
  test("every command goes out before the first follow-up; at most `concurrency` of each at once", async () => {
    const f = new FanOut({ concurrency: 2, openMax: 100, holdMaxMs: 5000 });
    const log: string[] = [];
    let sendingNow = 0;
    let followingNow = 0;
    let maxSending = 0;
    let maxFollowing = 0;
    const action = async (i: number) => {
      const turn = await f.start();
      sendingNow++;
      maxSending = Math.max(maxSending, sendingNow);
      await tick();
      log.push(`send ${i}`);
      sendingNow--;
      await turn.sent();
      followingNow++;
      maxFollowing = Math.max(maxFollowing, followingNow);
      log.push(`follow ${i}`);
      await tick();
      followingNow--;
      turn.end();
    };
    await Promise.all(Array.from({ length: 7 }, (_, i) => action(i)));
    const lastSend = Math.max(...log.flatMap((e, k) => (e.startsWith("send") ? [k] : [])));
    const firstFollow = log.findIndex((e) => e.startsWith("follow"));
    assert.ok(lastSend < firstFollow, log.join(", "));
    assert.equal(maxSending, 2);
    assert.equal(maxFollowing, 2);
    allFree(f);
  });

  test("a send that hangs holds the others' follow-ups for holdMaxMs, no longer", async () => {
    const f = new FanOut({ concurrency: 2, openMax: 100, holdMaxMs: 80 });
    const hung = await f.start();
    const turn = await f.start();
    const started = Date.now();
    await turn.sent();
    const waitedMs = Date.now() - started;
    assert.ok(waitedMs >= 70 && waitedMs < 1000, `${waitedMs} ms`);
    turn.end();
    hung.end();
    allFree(f);
  });

  test("actions open at once stay within openMax; the follow-ups free the places for the rest", async () => {
    const f = new FanOut({ concurrency: 2, openMax: 3, holdMaxMs: 5000 });
    let open = 0;
    let maxOpen = 0;
    let done = 0;
    const action = async () => {
      const turn = await f.start();
      open++;
      maxOpen = Math.max(maxOpen, open);
      await tick();
      await turn.sent();
      await tick();
      open--;
      done++;
      turn.end();
    };
    await Promise.all(Array.from({ length: 10 }, action));
    assert.equal(done, 10);
    assert.equal(maxOpen, 3);
    allFree(f);
  });

  test("an action that ends unsent, while held, twice, or before its command goes out gives back each place once", async () => {
    const f = new FanOut({ concurrency: 1, openMax: 10, holdMaxMs: 5000 });
    // never sent (refused before the wire): its send place goes back
    const unsent = await f.start();
    unsent.end();
    unsent.end();
    // ended while its follow-up waits for the tick's other commands (its deadline passed)
    const held = await f.start();
    const other: ActionTurn = await new Promise((resolve) => {
      void f.start().then(resolve);
      void held.sent();
    });
    held.end();
    // ended while following
    await other.sent();
    other.end();
    await held.sent();
    allFree(f);
    // ended at its deadline while its command was still on its way; the command goes out after
    const late = await f.start();
    late.end();
    await late.sent();
    allFree(f);
    await (await f.start()).sent();
    assert.equal(f.sending.inUse, 0);
    assert.equal(f.following.inUse, 1);
  });
});
