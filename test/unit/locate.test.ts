// The locate action without a miner on the wire: the intent's seconds (default,
// bounds, the older `value` name), the operator step, the driver's confirmation
// logic against fake firmware (read-back, a reply that states the state, no
// report at all, a toggle answered the wrong way), the ledger keeping a locate
// out of every power count, and the agent's own off when the time is up, on an
// injected clock: scheduled only where the firmware leaves the LED on, replaced
// by a new locate, cancelled by an off, retried when the off fails, and kept
// across a restart.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  DeviceActionSchema,
  LOCATE_DEFAULT_S,
  LOCATE_MAX_S,
  LOCATE_MIN_S,
  locateSeconds,
} from "../../agent/control/intents.ts";
import { operatorSteps } from "../../agent/control/operator-steps.ts";
import { LOCATE_OFF_RETRY_MS, LOCATE_OFF_TRIES, LocateEnds } from "../../agent/devices/locate-ends.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { Ledger } from "../../agent/store/ledger.ts";
import type { StoredLocate } from "../../agent/store/settings.ts";
import type { MinerConfig } from "../../config/schema.ts";
import { type LocateSpec, runLocate } from "../../drivers/cgminer/locate.ts";
import { DriverError, type LocateReport } from "../../drivers/types.ts";

// ---------------------------------------------------------------- the intent

const parse = (b: unknown) => DeviceActionSchema.safeParse(b);
const err = (b: unknown) => {
  const r = parse(b);
  assert.equal(r.success, false, JSON.stringify(b));
  return r.error!.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
};

test("locate: seconds default, bounds, durations, 0 = off; value is its older name", () => {
  const ok = (b: unknown) => {
    const r = parse(b);
    assert.ok(r.success, JSON.stringify(r.error?.issues));
    return locateSeconds(r.data);
  };
  assert.equal(ok({ id: "m1", action: "locate" }), LOCATE_DEFAULT_S);
  assert.equal(LOCATE_DEFAULT_S, 300);
  assert.equal(ok({ id: "m1", action: "locate", seconds: 60 }), 60);
  assert.equal(ok({ id: "m1", action: "locate", seconds: "5m" }), 300);
  assert.equal(ok({ id: "m1", action: "locate", seconds: 0 }), 0);
  assert.equal(ok({ id: "m1", action: "locate", seconds: LOCATE_MAX_S }), LOCATE_MAX_S);
  assert.equal(ok({ id: "m1", action: "locate", value: 120 }), 120);
  assert.match(
    err({ id: "m1", action: "locate", seconds: LOCATE_MIN_S - 1 }),
    /^seconds: locate: 0 \(off\) or 10–3600 s, got 9/,
  );
  assert.match(err({ id: "m1", action: "locate", seconds: "2h" }), /^seconds: must be at most 3600 s/);
  assert.match(err({ id: "m1", action: "locate", seconds: -5 }), /^seconds: must be at least 0 s/);
  assert.match(err({ id: "m1", action: "locate", value: 5 }), /^value: locate: 0 \(off\)/);
  assert.match(err({ id: "m1", action: "locate", seconds: 60, value: 60 }), /^value: locate takes seconds/);
  assert.match(err({ id: "m1", action: "sleep", seconds: 60 }), /^seconds: seconds is for locate only/);
});

test("locate is one operator step that moves no power; a GPU node has none", () => {
  const miner = { id: "m-1", nominalW: 3250 } as unknown as MinerConfig;
  const ctx = {
    miner,
    gpuNode: null,
    minerReading: { powerW: 3000 } as never,
    gpuReading: null,
    sleptPowerW: null,
  };
  assert.deepEqual(operatorSteps({ id: "m-1", action: "locate", seconds: 90 }, "op", ctx), {
    actions: [{ deviceId: "m-1", kind: "locate", seconds: 90, expectedDeltaW: 0, reason: "op" }],
  });
  assert.equal(
    (operatorSteps({ id: "m-1", action: "locate" }, "op", ctx) as { actions: Array<{ seconds: number }> })
      .actions[0]!.seconds,
    LOCATE_DEFAULT_S,
  );
  const gpu = operatorSteps({ id: "g-1", action: "locate" }, "op", {
    ...ctx,
    miner: null,
    gpuNode: { id: "g-1", floorW: 350 } as never,
  });
  assert.match((gpu as { error: string }).error, /GPU node/);
});

// ---------------------------------------------------------------- the driver's confirmation

/** A fake firmware's LED: `set` and `read` as a dialect would give them. */
function firmware(o: {
  read?: boolean;
  toggle?: boolean;
  stuck?: boolean;
  endsAfter?: LocateSpec<null>["endsAfter"];
}) {
  const f = { led: false, sets: 0, reads: 0 };
  const spec: LocateSpec<null> = {
    async set(_ctx, seconds) {
      f.sets++;
      if (o.stuck) return undefined;
      if (o.toggle) {
        f.led = !f.led;
        return f.led;
      }
      f.led = seconds > 0;
      return undefined;
    },
    endsAfter: o.endsAfter ?? null,
  };
  if (o.read !== false) {
    spec.read = async () => {
      f.reads++;
      return f.led;
    };
  }
  return { f, spec };
}

const OPTS = { retries: 3, confirmTimeoutMs: 50, pollMs: 5, now: Date.now };

test("runLocate: read back where the firmware reports it; who ends it follows the firmware", async () => {
  const { f, spec } = firmware({});
  const on = await runLocate(spec, null, { ...OPTS, seconds: 120 });
  assert.deepEqual([on.ok, on.attempts, f.led], [true, 1, true]);
  assert.deepEqual(on.report, { on: true, confirmedBy: "read-back", firmwareEndsAfterS: null });
  assert.match(on.reason, /^locate on for 120 s \(read back\); the firmware keeps it on until told$/);
  const off = await runLocate(spec, null, { ...OPTS, seconds: 0 });
  assert.deepEqual(off.report, { on: false, confirmedBy: "read-back", firmwareEndsAfterS: null });
  assert.equal(f.led, false);
  const asked = await runLocate(firmware({ endsAfter: "asked" }).spec, null, { ...OPTS, seconds: 90 });
  assert.equal(asked.report?.firmwareEndsAfterS, 90);
  const fixed = await runLocate(firmware({ endsAfter: 30 }).spec, null, { ...OPTS, seconds: 90 });
  assert.equal(fixed.report?.firmwareEndsAfterS, 30);
  assert.match(fixed.reason, /its own 30 s \(asked 90 s\)/);
});

test("runLocate: an LED that does not show is resent, then a failure that says what the unit reports", async () => {
  const { f, spec } = firmware({ stuck: true });
  const r = await runLocate(spec, null, { ...OPTS, seconds: 60 });
  assert.equal(r.ok, false);
  assert.equal(f.sets, 3, "sent once per attempt");
  assert.match(r.reason, /^locate on not confirmed within 0 s: the unit reports its LED off$/);
});

test("runLocate: a toggle answered the wrong way is not taken as done; no report at all is said plainly", async () => {
  const { f, spec } = firmware({ toggle: true, read: false });
  f.led = true; // already on: a toggle turns it off and says so
  const r = await runLocate(spec, null, { ...OPTS, seconds: 60 });
  assert.deepEqual([r.ok, r.attempts, f.led, r.report?.confirmedBy], [true, 2, true, "reply"]);
  const silent = await runLocate(firmware({ read: false }).spec, null, { ...OPTS, seconds: 60 });
  assert.equal(silent.ok, true);
  assert.equal(silent.report?.confirmedBy, null);
  assert.match(silent.reason, /NOT confirmed: this firmware does not report its LED state/);
});

test("runLocate: a refusal ends at once; a firmware without the LED field is sent and said so", async () => {
  const refused: LocateSpec<null> = {
    set: async () => {
      throw new DriverError("WK_LUXOS_ACCESS_DENIED", "write access denied", false);
    },
    endsAfter: null,
  };
  const r = await runLocate(refused, null, { ...OPTS, seconds: 60 });
  assert.deepEqual([r.ok, r.attempts, r.reason], [false, 1, "WK_LUXOS_ACCESS_DENIED: write access denied"]);
  const old: LocateSpec<null> = {
    set: async () => undefined,
    read: async () => {
      throw new DriverError("WK_LUXOS_NO_LED_STATE", "config has no RedLed", false);
    },
    endsAfter: null,
  };
  const o = await runLocate(old, null, { ...OPTS, seconds: 60 });
  assert.equal(o.ok, true);
  assert.equal(o.report?.confirmedBy, null);
  assert.match(o.reason, /NOT confirmed.*WK_LUXOS_NO_LED_STATE/);
  assert.equal((await runLocate(old, null, { ...OPTS, seconds: -1 })).ok, false);
});

// ---------------------------------------------------------------- the ledger

test("ledger: a locate is recorded with origin and outcome but never counts as power moved or backs off", () => {
  const ledger = new Ledger(":memory:");
  ledger.open(1000);
  const id = ledger.begin({
    deviceId: "m1",
    kind: "locate",
    seconds: 300,
    expectedDeltaW: 0,
    reason: "operator tech",
    origin: "operator",
    at: 1000,
  });
  assert.equal(ledger.view(1001).devices.get("m1")?.pendingShed ?? null, null, "not a pending shed");
  ledger.finish(id, { ok: false, reason: "the unit reports its LED off" }, 2000);
  assert.equal(ledger.view(2001).devices.get("m1")?.failedUntil ?? null, null, "no back-off");
  const ok = ledger.begin({
    deviceId: "m1",
    kind: "locate",
    expectedDeltaW: 0,
    reason: "x",
    origin: "operator",
    at: 3000,
  });
  ledger.finish(ok, { ok: true, reason: "locate on (read back)" }, 3001);
  const d = ledger.view(3002).devices.get("m1");
  assert.equal(d?.pendingShed ?? null, null);
  assert.equal(d?.movedAt ?? null, null, "not a power move");
  assert.deepEqual(ledger.view(3002).sheds, []);
  const rows = ledger.events(2);
  assert.deepEqual(
    rows.map((r) => [r.kind, r.origin, r.state, r.outcomeReason]),
    [
      ["locate", "operator", "done", "locate on (read back)"],
      ["locate", "operator", "failed", "the unit reports its LED off"],
    ],
  );
  ledger.close();
});

// ---------------------------------------------------------------- the agent's off

/** A fake clock; advancing it sweeps the ends once a tick, as the site's clock does. */
function fakeTime(start = 1_000_000) {
  let t = start;
  const swept: Array<LocateEnds> = [];
  return {
    now: () => t,
    sweeps: (e: LocateEnds) => void swept.push(e),
    /** Moves the clock a tick at a time, sweeping at each; waits for the offs it sends. */
    async advance(ms: number, tickMs = 1000) {
      const end = t + ms;
      for (;;) {
        for (const e of swept) {
          e.sweep(t);
          await e.settled();
        }
        if (t >= end) break;
        t = Math.min(end, t + tickMs);
      }
    },
  };
}

function memoryStore() {
  const rows = new Map<string, StoredLocate>();
  return {
    rows,
    locates: () => [...rows.values()],
    saveLocate: (l: StoredLocate) => void rows.set(l.deviceId, { ...l }),
    removeLocate: (id: string) => void rows.delete(id),
  };
}

const onReport = (firmwareEndsAfterS: number | null): LocateReport => ({
  on: true,
  confirmedBy: "read-back",
  firmwareEndsAfterS,
});

function timers(time: ReturnType<typeof fakeTime>, store = memoryStore(), ok = () => true) {
  const offs: Array<{ id: string; reason: string; at: number }> = [];
  const t = new LocateEnds({
    store,
    logger: silentLogger(),
    now: time.now,
    turnOff: async (id, reason) => {
      offs.push({ id, reason, at: time.now() });
      return ok();
    },
  });
  time.sweeps(t);
  return { t, offs, store };
}

test("the agent turns a LED off when its time is up, only where the firmware would leave it on", async () => {
  const time = fakeTime();
  const { t, offs, store } = timers(time);
  t.start();
  const words = t.noted("m1", { seconds: 300, report: onReport(null), by: "tech" });
  assert.match(words, /^; the agent turns it off at \d{4}-\d\d-\d\dT/);
  assert.equal(store.rows.get("m1")?.endsAt, time.now() + 300_000);
  assert.equal(
    t.noted("m2", { seconds: 300, report: onReport(300), by: "tech" }),
    "",
    "Proto: the firmware ends it",
  );
  assert.equal(t.noted("m3", { seconds: 300, report: onReport(30), by: "tech" }), "", "AxeOS: its own 30 s");
  assert.deepEqual(
    t.list().map((l) => l.deviceId),
    ["m1"],
  );
  await time.advance(299_000);
  assert.equal(offs.length, 0);
  await time.advance(1_000);
  assert.deepEqual(offs, [{ id: "m1", reason: "locate ended after 300 s (asked by tech)", at: time.now() }]);
  assert.equal(store.rows.size, 0, "done: nothing left stored");
  assert.deepEqual(t.list(), [], "nothing left to end");
});

test("a new locate replaces the end; an off cancels it", async () => {
  const time = fakeTime();
  const { t, offs } = timers(time);
  t.start();
  t.noted("m1", { seconds: 60, report: onReport(null), by: "tech" });
  await time.advance(50_000);
  t.noted("m1", { seconds: 120, report: onReport(null), by: "alice" });
  await time.advance(60_000);
  assert.equal(offs.length, 0, "the first end is gone");
  await time.advance(60_000);
  assert.deepEqual(
    offs.map((o) => o.reason),
    ["locate ended after 120 s (asked by alice)"],
  );
  t.noted("m2", { seconds: 60, report: onReport(null), by: "tech" });
  t.noted("m2", {
    seconds: 0,
    report: { on: false, confirmedBy: "read-back", firmwareEndsAfterS: null },
    by: "tech",
  });
  await time.advance(120_000);
  assert.equal(offs.length, 1, "an off left nothing to end");
  assert.deepEqual(t.list(), []);
});

test("an off that fails is tried again, then given up", async () => {
  const time = fakeTime();
  const { t, offs, store } = timers(time, memoryStore(), () => false);
  t.start();
  t.noted("m1", { seconds: 30, report: onReport(null), by: "tech" });
  await time.advance(30_000 + LOCATE_OFF_RETRY_MS * (LOCATE_OFF_TRIES + 2));
  assert.equal(offs.length, LOCATE_OFF_TRIES);
  assert.equal(offs[1]!.at - offs[0]!.at, LOCATE_OFF_RETRY_MS);
  assert.equal(store.rows.size, 0);
  assert.deepEqual(t.list(), []);
});

test("an off on its way is not sent again by the sweeps that come before it ends", async () => {
  const time = fakeTime();
  const offs: string[] = [];
  let answer: (ok: boolean) => void = () => undefined;
  const t = new LocateEnds({
    store: memoryStore(),
    logger: silentLogger(),
    now: time.now,
    turnOff: (id) => {
      offs.push(id);
      return new Promise<boolean>((r) => {
        answer = r;
      });
    },
  });
  t.start();
  t.noted("m1", { seconds: 10, report: onReport(null), by: "tech" });
  const at = time.now() + 10_000;
  for (let i = 0; i < 5; i++) t.sweep(at + i * 2_000);
  assert.deepEqual(offs, ["m1"]);
  answer(true);
  await t.settled();
  assert.deepEqual(t.list(), []);
  t.sweep(at + 20_000);
  assert.deepEqual(offs, ["m1"]);
});

test("ends are kept across a restart: due ones go off at start, the rest at their time", async () => {
  const time = fakeTime();
  const store = memoryStore();
  const first = timers(time, store);
  first.t.start();
  first.t.noted("m1", { seconds: 60, report: onReport(null), by: "tech" });
  first.t.noted("m2", { seconds: 600, report: onReport(null), by: "tech" });
  first.t.stop();
  assert.deepEqual(first.t.list(), [], "a stopped site ends nothing");
  assert.equal(store.rows.size, 2, "the ends stay stored for the next start");
  await time.advance(120_000);
  assert.equal(first.offs.length, 0);
  const again = timers(time, store);
  again.t.start();
  await time.advance(0);
  assert.deepEqual(
    again.offs.map((o) => o.id),
    ["m1"],
    "past due: off at once",
  );
  assert.match(again.offs[0]!.reason, /, 60 s late$/);
  await time.advance(480_000);
  assert.deepEqual(
    again.offs.map((o) => o.id),
    ["m1", "m2"],
  );
});
