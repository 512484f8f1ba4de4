// Miner commands in two phases (agent/control/apply.ts applyStarted, Actuator.startMiner):
// every command of a tick goes out before any read-back; a command that never goes out ends
// at its deadline and is aborted; a first attempt that is not confirmed is sent again, whole.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ControlLoop } from "../../agent/control/loop.ts";
import type {
  ActuatorResult,
  ControlEvent,
  MinerStartKind,
  StartedAction,
} from "../../agent/control/loop-types.ts";
import { CommandFirst } from "../../agent/devices/command-first.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { Ledger } from "../../agent/store/ledger.ts";
import { CONFIG, FakeSite, T0 } from "./control-loop-fixtures.ts";

/** FakeSite whose sleeps also go in two phases: `log` has each start and each confirm, in order. */
class TwoPhaseSite extends FakeSite {
  readonly log: string[] = [];
  /** Starts that never go out. */
  readonly hung = new Set<string>();
  /** Whose first confirm finds the miner still hashing. */
  readonly unconfirmed = new Set<string>();
  readonly signals = new Map<string, AbortSignal>();

  startMiner = async (
    kind: MinerStartKind,
    id: string,
    _watts: number,
    { signal }: { signal: AbortSignal },
  ): Promise<StartedAction> => {
    this.log.push(`start ${kind} ${id}`);
    this.signals.set(id, signal);
    if (this.hung.has(id)) return new Promise<StartedAction>(() => {});
    await new Promise((r) => setTimeout(r, 2));
    return {
      confirm: async (): Promise<ActuatorResult> => {
        this.log.push(`confirm ${id}`);
        if (this.unconfirmed.delete(id)) return { ok: false, reason: "power did not fall" };
        const i = this.miners.findIndex((m) => m.id === id);
        this.miners[i] = { ...this.miners[i]!, state: "sleeping", powerW: 50 };
        return { ok: true, reason: "confirmed" };
      },
    };
  };
}

function loopFor(
  site: TwoPhaseSite,
  ledger: Ledger,
  extra: { hungTimeoutMs?: number; commandFirst?: CommandFirst } = {},
) {
  const events: ControlEvent[] = [];
  const loop = new ControlLoop({
    getSnapshot: site.snapshot,
    budgetInputs: () => ({}),
    actuator: site,
    ledger,
    config: CONFIG,
    logger: silentLogger(),
    now: () => T0,
    onEvent: (e) => events.push(e),
    retryDelayMs: 0,
    actionTimeoutMs: 1_000,
    // the hung miner's deadline only: the others' follow-ups wait for it, within theirs
    actionTimeoutFor: (a) => (site.hung.has(a.deviceId) ? (extra.hungTimeoutMs ?? null) : null),
    concurrency: 2,
    ...(extra.commandFirst ? { commandFirst: extra.commandFirst } : {}),
  });
  return { loop, events };
}

const outcomes = (events: ControlEvent[]) =>
  events.flatMap((e) =>
    e.type === "outcome" ? [{ id: e.action.deviceId, ok: e.ok, attempts: e.attempts, reason: e.reason }] : [],
  );

test("every command of the tick goes out before the first read-back; each outcome is written", async () => {
  const site = new TwoPhaseSite(24, 5_000); // 120 kW against a 95 kW shed line: 5 sleeps
  const ledger = new Ledger(":memory:");
  ledger.open(T0);
  const first = new CommandFirst();
  const { loop, events } = loopFor(site, ledger, { commandFirst: first });
  const r = await loop.tick();
  assert.equal(r.sent, 5);
  assert.equal(r.done, 5);
  const starts = site.log.filter((l) => l.startsWith("start")).length;
  assert.equal(starts, 5);
  assert.ok(
    site.log.slice(0, 5).every((l) => l.startsWith("start sleep")),
    `all five out before any confirm: ${site.log.join(", ")}`,
  );
  assert.deepEqual(site.calls, [], "nothing went the one-phase way");
  assert.ok(outcomes(events).every((o) => o.ok && o.attempts === 1));
  assert.equal(first.busy, false, "the polls go on once the commands are out");
  assert.equal(outcomes(events).length, 5);
  ledger.close();
});

test("a command that never goes out ends at its deadline, aborted, and is sent again whole; the others are confirmed", async () => {
  const site = new TwoPhaseSite(24, 5_000);
  site.hung.add("m00");
  const ledger = new Ledger(":memory:");
  ledger.open(T0);
  const { loop, events } = loopFor(site, ledger, { hungTimeoutMs: 100 });
  const t = Date.now();
  const r = await loop.tick();
  assert.ok(Date.now() - t < 5_000, "the others' read-backs did not wait out the longest hold");
  assert.equal(r.done, 5);
  assert.equal(site.signals.get("m00")?.aborted, true, "the hung start was aborted");
  assert.ok(!site.log.includes("confirm m00"), "a command that is not out is never confirmed");
  assert.deepEqual(site.calls, ["sleep m00"], "the second attempt, one phase");
  const m00 = outcomes(events).find((o) => o.id === "m00")!;
  assert.equal(m00.ok, true);
  assert.equal(m00.attempts, 2);
  ledger.close();
});

test("a first attempt that is not confirmed is sent again; the outcome counts both attempts", async () => {
  const site = new TwoPhaseSite(24, 5_000);
  site.unconfirmed.add("m01");
  const ledger = new Ledger(":memory:");
  ledger.open(T0);
  const { loop, events } = loopFor(site, ledger);
  const r = await loop.tick();
  assert.equal(r.done, 5);
  assert.deepEqual(site.calls, ["sleep m01"]);
  assert.deepEqual(
    outcomes(events).find((o) => o.id === "m01"),
    {
      id: "m01",
      ok: true,
      attempts: 2,
      reason: "confirmed",
    },
  );
  ledger.close();
});
