// The site's clock and its duties, without a loop on a timer: a beat runs the
// duties in order then the listeners, one that throws stops neither; a
// stopped clock does nothing; health from the heartbeat and the loop's
// progress; retention pruning at the first beat and hourly after, on the
// beat's time.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { ControlLoop } from "../../agent/control/loop.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { ACTION_TIMEOUT_MS, SiteClock } from "../../agent/site/clock.ts";
import { KEEP_EVENTS_MS, Retention } from "../../agent/site/retention.ts";
import { SiteState } from "../../agent/site/state.ts";
import { SiteStores } from "../../agent/site/stores.ts";
import type { SiteTick } from "../../agent/site/tick.ts";
import { loadConfig } from "../../config/load.ts";

async function config() {
  const dir = mkdtempSync(join(tmpdir(), "wk-clock-"));
  writeFileSync(
    join(dir, "site.yaml"),
    "site: { id: clock, timezone: UTC, contractLimitW: 1MW }\nstore: { path: ./state.db }\nminers: [{ id: m1, host: 10.1.0.1 }]\ncontrol: { tickS: 2, retries: 2 }\n",
  );
  return (await loadConfig(join(dir, "site.yaml"))).config;
}

/** The part of the loop the clock reads. */
function fakeLoop(progress: { lastTickEndAt: number | null; busySince: number | null }) {
  return { last: null, mode: "auto", progress } as unknown as ControlLoop;
}

test("a beat runs the duties in order, then the listeners; a duty that throws stops neither", async () => {
  const cfg = await config();
  const state = new SiteState(cfg);
  const clock = new SiteClock({
    config: cfg,
    logger: silentLogger(),
    snapshot: () => state.snapshot(),
    loop: () => null,
  });
  const ran: string[] = [];
  clock.duty("first", () => ran.push("first"));
  clock.duty("broken", () => {
    throw new Error("boom");
  });
  clock.duty("last", (now, snap) => ran.push(`last ${now === snap.at}`));
  const ticks: SiteTick[] = [];
  clock.onTick((t) => ticks.push(t));
  clock.beat();
  assert.deepEqual(ran, [], "a clock not started does nothing");
  clock.start();
  clock.beat();
  assert.deepEqual(ran, ["first", "last true"]);
  assert.equal(ticks.length, 1);
  assert.equal(ticks[0]!.mode, "auto");
  assert.equal(ticks[0]!.budget, null, "no control tick yet");
  assert.ok(Math.abs(clock.lastTickAt - ticks[0]!.at) < 1000);
  clock.stop();
  clock.beat();
  assert.equal(ticks.length, 1, "a stopped clock does nothing");
});

test("a wake storm does not multiply the beats: one per half period at most", async () => {
  const cfg = await config(); // tickS 2
  const state = new SiteState(cfg);
  let now = 1_800_000_000_000;
  const clock = new SiteClock({
    config: cfg,
    logger: silentLogger(),
    snapshot: () => state.snapshot(now),
    loop: () => null,
    now: () => now,
  });
  let beats = 0;
  clock.onTick(() => beats++);
  clock.start();
  for (let i = 0; i < 100; i++) {
    clock.beat(); // a tick every 40 ms for 4 s
    now += 40;
  }
  assert.equal(beats, 4, "one beat per second at tickS 2");
  assert.equal(clock.unhealthyReason(now), null);
});

test("health: the heartbeat, and the loop neither ticking nor busy beyond the action deadline", async () => {
  const cfg = await config();
  const state = new SiteState(cfg);
  const progress: { lastTickEndAt: number | null; busySince: number | null } = {
    lastTickEndAt: null,
    busySince: null,
  };
  const clock = new SiteClock({
    config: cfg,
    logger: silentLogger(),
    snapshot: () => state.snapshot(),
    loop: () => fakeLoop(progress),
  });
  assert.match(clock.unhealthyReason() ?? "", /^no tick for \d+ s$/, "before the first beat");
  clock.start();
  clock.beat();
  const now = clock.lastTickAt;
  assert.equal(clock.unhealthyReason(now), null);
  assert.match(clock.unhealthyReason(now + 11_000) ?? "", /^no tick for 11 s$/);
  progress.lastTickEndAt = now - 30_000;
  assert.equal(clock.unhealthyReason(now), "no control tick for 30 s");
  progress.busySince = now - 60_000;
  assert.equal(clock.unhealthyReason(now), null, "a shed within its deadline × retries is alive");
  progress.busySince = now - (ACTION_TIMEOUT_MS * 2 + 11_000);
  assert.match(clock.unhealthyReason(now) ?? "", /^control tick running for \d+ s$/);
});

test("retention: pruned at the first beat and hourly after, on the beat's time", async () => {
  const cfg = await config();
  const stores = new SiteStores(cfg, silentLogger());
  stores.open();
  try {
    const retention = new Retention(stores, silentLogger(), () => undefined);
    const events = stores.events!;
    const now = 1_800_000_000_000;
    const old = () =>
      events.append({ at: now - KEEP_EVENTS_MS - 1, kind: "x", severity: "info", message: "old" });
    old();
    retention.beat(now);
    assert.equal(events.recent(10).length, 0, "the first beat prunes");
    old();
    retention.beat(now + 60_000);
    assert.equal(events.recent(10).length, 1, "not again within the hour");
    retention.beat(now + 3_600_000);
    assert.equal(events.recent(10).length, 0, "an hour on");
  } finally {
    stores.close();
  }
});
