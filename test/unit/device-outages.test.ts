// One event per device outage, deduplicated by reason code, never by text;
// and the problems the pollers derive from readings (pool dead while hashing).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { formatDuration, OutageWatch, reasonCode } from "../../agent/devices/outages.ts";
import { gpuProblem, meterProblem, minerProblem } from "../../agent/devices/pollers.ts";
import type { MinerReading } from "../../drivers/types.ts";
import { minerReading } from "../helpers/readings.ts";

const T0 = Date.UTC(2026, 11, 4, 12);

function miner(over: Partial<MinerReading>): MinerReading {
  return minerReading({ at: T0, uptimeS: 1000, ...over });
}

describe("reasonCode", () => {
  test("the leading WK_ code of a driver's reason, whatever the text after it", () => {
    assert.equal(
      reasonCode("WK_MODBUS_BACKOFF: not reconnecting for 5654 ms after 19 transport error(s)", "meter"),
      "WK_MODBUS_BACKOFF",
    );
    assert.equal(reasonCode("WK_CGMINER_REFUSED: connection refused", "unreachable"), "WK_CGMINER_REFUSED");
  });
  test("a reason without a code: the state and its words, digits dropped", () => {
    assert.equal(reasonCode("no pool alive", "faulted"), "faulted:no-pool-alive");
    assert.equal(
      reasonCode("nvidia-smi did not answer within 15000 ms", "faulted"),
      reasonCode("nvidia-smi did not answer within 30000 ms", "faulted"),
    );
    assert.equal(reasonCode(null, "unreachable"), "unreachable");
  });
});

describe("OutageWatch", () => {
  test("a dead meter: one degraded event however its text changes, one recovered with count and duration", () => {
    const w = new OutageWatch();
    const events = [];
    // ten minutes at one read a second, the text a countdown, refusals and backoffs interleaved
    for (let s = 0; s < 600; s++) {
      const backoff = s % 3 !== 0;
      const reason = backoff
        ? `WK_MODBUS_BACKOFF: not reconnecting for ${5000 - s} ms after ${s} transport error(s); last: WK_MODBUS_REFUSED: connection refused`
        : "WK_MODBUS_REFUSED: connection refused / port not open";
      const c = w.note("pcc", { code: reasonCode(reason, "meter"), message: reason }, T0 + s * 1000);
      if (c) events.push(c.event);
    }
    const back = w.note("pcc", null, T0 + 600_000);
    assert.ok(back);
    events.push(back.event);
    assert.deepEqual(
      events.map((e) => e.kind),
      ["device-degraded", "device-recovered"],
    );
    assert.equal(events[0]!.data?.code, "WK_MODBUS_REFUSED");
    assert.deepEqual(events[1]!.data, {
      durationS: 600,
      failedReads: 600,
      codes: ["WK_MODBUS_REFUSED"],
      lastMessage:
        "WK_MODBUS_BACKOFF: not reconnecting for 4401 ms after 599 transport error(s); last: WK_MODBUS_REFUSED: connection refused",
    });
    assert.match(events[1]!.message, /^pcc recovered after 10 min \(600 failed reads; WK_MODBUS_REFUSED\)$/);
    assert.equal(w.openOutages().length, 0);
  });

  test("a new kind of problem within an outage is news once; the same code again is not", () => {
    const w = new OutageWatch();
    const kinds = [
      w.note("m-1", { code: "WK_CGMINER_REFUSED", message: "unreachable: refused" }, T0),
      w.note("m-1", { code: "WK_CGMINER_INVALID_REPLY", message: "faulted: not JSON" }, T0 + 5000),
      w.note("m-1", { code: "WK_CGMINER_REFUSED", message: "unreachable: refused again" }, T0 + 10_000),
      w.note("m-1", { code: "WK_CGMINER_INVALID_REPLY", message: "faulted: not JSON" }, T0 + 15_000),
    ].map((c) => (c ? `${c.kind}:${c.event.data?.code}` : null));
    assert.deepEqual(kinds, ["degraded:WK_CGMINER_REFUSED", "degraded:WK_CGMINER_INVALID_REPLY", null, null]);
    assert.deepEqual(w.openOutages(), [
      {
        deviceId: "m-1",
        since: T0,
        failedReads: 4,
        codes: ["WK_CGMINER_REFUSED", "WK_CGMINER_INVALID_REPLY"],
      },
    ]);
  });

  test("refused, timed out, unreachable, reset: all 'nothing answers', one piece of news", () => {
    const w = new OutageWatch();
    const news = [
      w.note("pcc", { code: "WK_MODBUS_REFUSED", message: "refused" }, T0),
      // a busy host: the same dead port times out instead of refusing
      w.note("pcc", { code: "WK_MODBUS_TIMEOUT", message: "no reply" }, T0 + 1000),
      w.note("pcc", { code: "WK_MODBUS_RESET", message: "reset" }, T0 + 2000),
      // another driver's code is its own family
      w.note("pcc", { code: "WK_CGMINER_TIMEOUT", message: "no reply" }, T0 + 3000),
    ].map((c) => (c ? c.event.data?.code : null));
    assert.deepEqual(news, ["WK_MODBUS_REFUSED", null, null, "WK_CGMINER_TIMEOUT"]);
  });

  test("good readings without an outage are silent; a second outage is news again", () => {
    const w = new OutageWatch();
    assert.equal(w.note("m-1", null, T0), null);
    assert.equal(w.note("m-1", { code: "x", message: "x" }, T0)?.kind, "degraded");
    assert.equal(w.note("m-1", null, T0 + 1)?.kind, "recovered");
    assert.equal(w.note("m-1", null, T0 + 2), null);
    assert.equal(w.note("m-1", { code: "x", message: "x" }, T0 + 3)?.kind, "degraded");
  });

  test("formatDuration", () => {
    assert.equal(formatDuration(42), "42 s");
    assert.equal(formatDuration(95), "1 min 35 s");
    assert.equal(formatDuration(600), "10 min");
    assert.equal(formatDuration(7260), "2 h 1 min");
  });
});

describe("device problems from readings", () => {
  test("a hashing miner whose only pool is dead: work wasted", () => {
    const p = minerProblem(
      miner({ pools: [{ url: "stratum+tcp://pool.example:3333", user: "w.1", status: "Dead" }] }),
    );
    assert.equal(p?.code, "pool-dead");
    assert.match(p!.message, /every pool is dead \(stratum\+tcp:\/\/pool\.example:3333\).*work is wasted/);
  });
  test("a dead backup pool while another is alive: still a problem, said as such", () => {
    const p = minerProblem(
      miner({
        pools: [
          { url: "stratum+tcp://a:3333", user: "w", status: "Alive" },
          { url: "stratum+tcp://b:3333", user: "w", status: "Dead" },
        ],
      }),
    );
    assert.equal(p?.code, "pool-dead");
    assert.match(p!.message, /pool stratum\+tcp:\/\/b:3333 is dead \(mining on another pool/);
  });
  test("sleeping, starting and healthy hashing miners have no problem; faults carry their code", () => {
    assert.equal(minerProblem(miner({ pools: [{ url: "u", user: "w", status: "Alive" }] })), null);
    assert.equal(minerProblem(miner({ state: "sleeping", hashrateThs: 0 })), null);
    assert.equal(minerProblem(miner({ state: "starting", hashrateThs: 0 })), null);
    assert.deepEqual(minerProblem(miner({ state: "unreachable", reason: "WK_CGMINER_REFUSED: refused" })), {
      code: "WK_CGMINER_REFUSED",
      message: "unreachable: WK_CGMINER_REFUSED: refused",
    });
  });
  test("meters and GPU nodes", () => {
    assert.equal(
      meterProblem({
        at: T0,
        ok: false,
        reason: "WK_MODBUS_TIMEOUT: no reply",
        powerW: null,
        energyKwh: null,
        voltageV: [null, null, null],
        currentA: [null, null, null],
        frequencyHz: null,
        powerFactor: null,
      })?.code,
      "WK_MODBUS_TIMEOUT",
    );
    assert.equal(
      gpuProblem({ state: "unreachable", reason: "connect ECONNREFUSED" } as Parameters<typeof gpuProblem>[0])
        ?.code,
      "unreachable:connect-econnrefused",
    );
  });
});
