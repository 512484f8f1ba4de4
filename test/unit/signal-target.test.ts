// The aggregator's MQTT target: its message, its staleness and failPolicy, and
// the budget a share of flexible load becomes.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { signalSources, targetBudgetW } from "../../agent/control/signal-budget.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { MqttTargetSignal, parseTargetMessage } from "../../agent/signals/mqtt-target.ts";

const T0 = Date.UTC(2026, 11, 4, 12);
const msg = (o: unknown) => Buffer.from(JSON.stringify(o));

describe("target messages", () => {
  test("{target, timestamp}: unix seconds, milliseconds or ISO", () => {
    assert.deepEqual(parseTargetMessage(msg({ target: 40, timestamp: T0 / 1000 }), T0), {
      keepFraction: 0.4,
      issuedAt: T0,
    });
    assert.deepEqual(parseTargetMessage(msg({ target: 0, timestamp: T0 }), T0), {
      keepFraction: 0,
      issuedAt: T0,
    });
    assert.deepEqual(parseTargetMessage(msg({ target: 100, timestamp: new Date(T0).toISOString() }), T0), {
      keepFraction: 1,
      issuedAt: T0,
    });
    assert.deepEqual(parseTargetMessage(msg({ target: 50 }), T0), { keepFraction: 0.5, issuedAt: null });
  });
  test("anything else is refused with a reason", () => {
    for (const bad of [{ target: 101 }, { target: -1 }, { target: "50" }, { target: 50, extra: 1 }, [50]]) {
      assert.ok("error" in parseTargetMessage(msg(bad), T0), JSON.stringify(bad));
    }
    assert.ok("error" in parseTargetMessage(Buffer.from("nope"), T0));
    assert.match(
      (parseTargetMessage(msg({ target: 50, timestamp: T0 / 1000 + 3600 }), T0) as { error: string }).error,
      /in the future/,
    );
  });
});

describe("a target as a budget", () => {
  // 100 kW of mining running, 20 kW slept by the agent, 30 kW of other load
  const view = { powerW: 130_000, runningMiningW: 100_000, sleptByAgentW: 20_000 };
  test("keep 50 %: the site's other load plus half of all the mining, plus the shed margin", () => {
    assert.equal(targetBudgetW(0.5, view, 1000), 30_000 + 60_000 + 1000);
    assert.equal(targetBudgetW(0, view, 1000), 31_000);
    assert.equal(targetBudgetW(1, view, 0), 150_000);
    assert.equal(targetBudgetW(0.5, { ...view, powerW: null }, 0), null);
  });
  test("signalSources: a budget as it is, a share through the view; none when neither", () => {
    const s = signalSources(
      [
        {
          name: "qse",
          kind: "modbus",
          state: "active",
          budgetW: 120_000,
          since: T0,
          reason: "setpoint 120 kW",
        },
        {
          name: "agg",
          kind: "target",
          state: "active",
          budgetW: null,
          keepFraction: 0,
          since: T0,
          reason: "target 0 %",
        },
        {
          name: "idle",
          kind: "target",
          state: "idle",
          budgetW: null,
          keepFraction: null,
          since: T0,
          reason: "none",
        },
      ],
      view,
      0,
    );
    assert.deepEqual(s, [
      { watts: 120_000, reason: "qse: setpoint 120 kW" },
      { watts: 30_000, reason: "agg: target 0 %" },
    ]);
  });
});

describe("MqttTargetSignal", () => {
  const make = (failPolicy: "closed" | "open", now: { t: number }) =>
    new MqttTargetSignal({
      name: "agg",
      topic: "maestro/site/target",
      staleS: 240,
      failPolicy,
      floorFraction: 0,
      broker: null,
      logger: silentLogger(),
      now: () => now.t,
    });

  test("fresh target: active with its share; 100 %: idle (nothing asked)", () => {
    const now = { t: T0 };
    const s = make("closed", now);
    s.handle(msg({ target: 25, timestamp: T0 / 1000 }));
    assert.deepEqual([s.status(T0).state, s.status(T0).keepFraction], ["active", 0.25]);
    s.handle(msg({ target: 100, timestamp: T0 / 1000 + 30 }));
    assert.deepEqual([s.status(T0 + 30_000).state, s.status(T0 + 30_000).keepFraction], ["idle", null]);
  });

  test("the feed goes quiet: closed curtails to the floor, open releases", () => {
    for (const [policy, fraction] of [
      ["closed", 0],
      ["open", null],
    ] as const) {
      const now = { t: T0 };
      const s = make(policy, now);
      s.handle(msg({ target: 60, timestamp: T0 / 1000 }));
      assert.equal(s.status(T0 + 240_000).state, "active");
      const st = s.status(T0 + 241_000);
      assert.equal(st.state, "stale");
      assert.equal(st.keepFraction, fraction);
      assert.match(st.reason, new RegExp(`no target for 241 s: failPolicy ${policy}`));
    }
  });

  test("an older message than the one in force is refused; never anything: closed after staleS", () => {
    const now = { t: T0 };
    const refused: string[] = [];
    const s = new MqttTargetSignal({
      name: "agg",
      topic: "t",
      staleS: 240,
      failPolicy: "closed",
      floorFraction: 0.1,
      broker: null,
      logger: silentLogger(),
      onRefused: (w) => refused.push(w),
      now: () => now.t,
    });
    assert.equal(s.status(T0 + 1000).state, "idle");
    assert.deepEqual([s.status(T0 + 241_000).state, s.status(T0 + 241_000).keepFraction], ["stale", 0.1]);
    now.t = T0 + 300_000;
    s.handle(msg({ target: 50, timestamp: T0 / 1000 + 300 }));
    s.handle(msg({ target: 90, timestamp: T0 / 1000 + 200 }));
    assert.deepEqual(refused, ["older than the target in force"]);
    assert.equal(s.status(T0 + 300_000).keepFraction, 0.5);
  });
});
