// The LuxOS dialect (drivers/cgminer/dialects/luxos/dialect.ts) against the simulated
// LuxOS firmware (sim/cgminer/dialects/luxos.ts) over loopback (127.71.x): what only
// LuxOS does. What every dialect does is the miner contract (test/contract).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { luxosDialect } from "../../drivers/cgminer/dialects/luxos/dialect.ts";
import { MinerDriver } from "../../drivers/cgminer/driver.ts";
import { encodeRequest, exchange } from "../../drivers/cgminer/framing.ts";
import { luxosProfiles, luxosSessionCounters, refuseLuxosCommand } from "../../sim/cgminer/dialects/luxos.ts";
import { type CgminerSim, startCgminerSim } from "../../sim/cgminer/server.ts";
import { PowerModel } from "../../sim/power-model.ts";

type Obj = Record<string, unknown>;

/** One raw command to the sim; returns the parsed JSON reply. */
async function ask(host: string, command: string, parameter?: string): Promise<Obj> {
  const raw = await exchange({ host, port: 4028 }, encodeRequest(command, parameter));
  return JSON.parse(raw.toString("utf8")) as Obj;
}
const status = (r: Obj) => (r.STATUS as Obj[])[0]!;
const openSession = async (host: string) =>
  String(((await ask(host, "session")).SESSION as Obj[])[0]!.SessionID);

const HOSTS = [
  "127.71.0.1",
  "127.71.0.2",
  "127.71.0.3",
  "127.71.0.4",
  "127.71.0.5",
  "127.71.0.6",
  "127.71.0.7",
  "127.71.0.8",
];
const CONFIRM = { confirmTimeoutMs: 3000, pollMs: 100 };

describe("LuxOS dialect", () => {
  let model: PowerModel;
  let sim: CgminerSim;
  const drivers: MinerDriver[] = [];
  const driverFor = (i: number) => {
    const d = new MinerDriver(
      luxosDialect,
      { host: HOSTS[i]!, port: 4028, credentials: null },
      { confirm: CONFIRM },
    );
    drivers.push(d);
    return d;
  };

  before(async () => {
    model = new PowerModel({ seed: 71 });
    sim = await startCgminerSim({
      model,
      miners: HOSTS.map((host, i) => ({
        id: `lux${i}`,
        host,
        port: 4028,
        model: "antminer-s19j-pro",
        dialect: "luxos",
      })),
    });
  });
  after(async () => {
    await Promise.all(drivers.map((d) => d.close()));
    await sim.stop();
  });

  test("reads: TH/s, reported watts, dashed chip temperatures, firmware", async () => {
    const r = await driverFor(0).read();
    assert.equal(r.state, "hashing", r.reason ?? "");
    const ths = model.hashrateThs("lux0");
    assert.ok(r.hashrateThs !== null && Math.abs(r.hashrateThs - ths) / ths < 0.05, `${r.hashrateThs} TH/s`);
    assert.equal(r.powerW, Math.round(model.powerW("lux0")));
    assert.equal(r.powerEstimated, false);
    assert.ok(r.chipTempMaxC !== null && r.chipTempMaxC > 40, `chip ${r.chipTempMaxC}`);
    assert.equal(r.boardTempsC.length, 3);
    assert.match(r.firmware ?? "", /^luxminer /);
    assert.equal(r.model, "Antminer S19j Pro");
    assert.equal(r.powerLimitW, null);
  });

  test("sleep → sleeping at tens of watts (API still answers); wake → hashing; logs off each time", async () => {
    const d = driverFor(1);
    const before = model.powerW("lux1");
    const slept = await d.sleep();
    assert.equal(slept.ok, true, slept.reason ?? "");
    assert.equal(slept.after?.state, "sleeping");
    assert.equal(model.state("lux1"), "sleeping");
    assert.ok(model.powerW("lux1") < 100 && model.powerW("lux1") < before * 0.1);
    const r = await d.read();
    assert.equal(r.reason, "curtailed (sleep)");
    assert.ok(r.powerW !== null && r.powerW > 10 && r.powerW < 100, `${r.powerW} W asleep`);
    const woke = await d.wake();
    assert.equal(woke.ok, true, woke.reason ?? "");
    assert.equal(model.state("lux1"), "hashing");
    const c = luxosSessionCounters("lux1");
    // the capability probe at first contact, then sleep and wake: each logged off
    assert.equal(c.logons, 3);
    assert.equal(c.logoffs, 3);
    assert.equal(await openSession(HOSTS[1]!), "");
  });

  test("in two phases (start): resolved once the curtail is out; the session is logged off after confirm(), or at once on an abort", async () => {
    const d = driverFor(7);
    await d.read();
    await d.confirmed();
    const c0 = luxosSessionCounters("lux7");
    const started = await d.start("sleep");
    assert.ok(started.confirm, started.outcome?.reason ?? "no confirm");
    assert.equal(model.state("lux7"), "sleeping", "the command is out");
    await new Promise((r) => setTimeout(r, 100));
    const held = luxosSessionCounters("lux7");
    assert.equal(held.logons - c0.logons, 1);
    assert.equal(held.logoffs - c0.logoffs, 0, "the logoff waits for the follow-up");
    const out = await started.confirm();
    assert.equal(out.ok, true, out.reason ?? "");
    assert.equal(out.after?.state, "sleeping");
    const until = async (probe: () => boolean) => {
      for (let i = 0; i < 100 && !probe(); i++) await new Promise((r) => setTimeout(r, 20));
      assert.ok(probe());
    };
    await until(() => luxosSessionCounters("lux7").logoffs - c0.logoffs === 1);
    // started and never confirmed: the loop's deadline aborts it, and the session still goes
    const ac = new AbortController();
    const woke = await d.start("wake", undefined, { signal: ac.signal });
    assert.ok(woke.confirm);
    assert.equal(model.state("lux7"), "hashing");
    ac.abort();
    await until(() => {
      const c = luxosSessionCounters("lux7");
      return c.logoffs === c.logons;
    });
    assert.equal(await openSession(HOSTS[7]!), "");
  });

  test("setPowerLimit picks the highest profile at or below the target", async () => {
    const d = driverFor(2);
    const target = 2700;
    const res = await d.setPowerLimit(target);
    assert.equal(res.ok, true, res.reason ?? "");
    assert.ok(model.powerW("lux2") <= target, `${model.powerW("lux2")} W`);
    const best = luxosProfiles(model.minerView("lux2"))
      .filter((p) => p.watts <= target)
      .sort((a, b) => b.watts - a.watts)[0]!;
    const cfg = (await ask(HOSTS[2]!, "config")).CONFIG as Obj[];
    assert.equal(cfg[0]!.Profile, best.name);
    // ATM was on: switched off around profileset and back on
    assert.equal(cfg[0]!.IsAtmEnabled, true);
    assert.equal(await openSession(HOSTS[2]!), "");

    const low = await d.setPowerLimit(500);
    assert.equal(low.ok, false);
    assert.match(low.reason ?? "", /WK_LUXOS_TARGET_TOO_LOW/);
    assert.equal(await openSession(HOSTS[2]!), "", "logged off after the refusal too");
  });

  test("one session at a time: a second logon gets 402; the driver adopts the open session and logs it off", async () => {
    const host = HOSTS[3]!;
    const first = await ask(host, "logon");
    assert.equal(status(first).STATUS, "S");
    const sid = String((first.SESSION as Obj[])[0]!.SessionID);
    const second = await ask(host, "logon");
    assert.equal(status(second).STATUS, "E");
    assert.equal(status(second).Code, 402);

    const res = await driverFor(3).sleep();
    assert.equal(res.ok, true, res.reason ?? "");
    assert.equal(await openSession(host), "", "the adopted session is logged off");
    assert.equal(status(await ask(host, "logoff", sid)).STATUS, "E", "the old id is gone");
    assert.equal((await driverFor(3).wake()).ok, true);
  });

  test("concurrent writes to one miner are serialised: no 402, every logon logged off", async () => {
    const host = HOSTS[4]!;
    const a = driverFor(4);
    const b = new MinerDriver(luxosDialect, { host, port: 4028 }, { confirm: CONFIRM });
    drivers.push(b);
    const [lim, slept] = await Promise.all([a.setPowerLimit(2800), b.sleep()]);
    assert.equal(lim.ok, true, lim.reason ?? "");
    assert.equal(slept.ok, true, slept.reason ?? "");
    const c = luxosSessionCounters("lux4");
    assert.equal(c.busy, 0);
    assert.equal(c.logons, c.logoffs);
    assert.equal(await openSession(host), "");
    assert.equal((await a.wake()).ok, true);
  });

  test("a refused command gives ok:false with the miner's reason, and the session is still logged off", async () => {
    refuseLuxosCommand("lux0", "curtail");
    try {
      const before = luxosSessionCounters("lux0");
      const res = await driverFor(0).sleep();
      assert.equal(res.ok, false);
      assert.equal(res.attempts, 1, "a refusal is not retried");
      assert.match(res.reason ?? "", /WK_LUXOS_REFUSED: curtail sleep refused: .*Code 399/);
      assert.equal(model.state("lux0"), "hashing");
      const after = luxosSessionCounters("lux0");
      // the fresh driver's capability probe, then the refused write: both logged off
      assert.equal(after.logons - before.logons, 2);
      assert.equal(after.logoffs - before.logoffs, 2);
      assert.equal(await openSession(HOSTS[0]!), "");
    } finally {
      refuseLuxosCommand("lux0", "curtail", false);
    }
  });

  test("the profiles' watts: one frozen list for miners with the same profiles, carried as it is; the same pools stay the earlier objects", async () => {
    let now = Date.now();
    // the poll tiers on a clock of the test's: a full read, then summary reads for 30 s
    const tiered = (i: number) => {
      const d = new MinerDriver(
        luxosDialect,
        { host: HOSTS[i]!, port: 4028, credentials: null },
        { confirm: CONFIRM, detailEveryMs: 30_000, random: () => 1, now: () => now },
      );
      drivers.push(d);
      return d;
    };
    const [a, b] = [tiered(5), tiered(6)];
    const fullA = await a.read();
    const fullB = await b.read();
    const steps = fullA.powerLimitStepsW ?? [];
    assert.ok(steps.length > 1, `${steps.length} profiles`);
    assert.deepEqual(
      [...steps],
      [...steps].sort((x, y) => x - y),
      "ascending",
    );
    assert.equal(fullB.powerLimitStepsW, fullA.powerLimitStepsW, "one list for both miners");
    assert.ok(Object.isFrozen(fullA.powerLimitStepsW));
    now += 5000;
    const summary = await a.read();
    assert.equal(summary.detailAt, fullA.at, "a summary-only read");
    assert.equal(summary.powerLimitStepsW, fullA.powerLimitStepsW);
    assert.equal(summary.minPowerLimitW, fullA.powerLimitStepsW![0]);
    now += 30_000;
    const full = await a.read();
    assert.equal(full.detailAt, undefined, "a full read");
    assert.ok(full.pools.length > 0);
    assert.equal(full.pools, fullA.pools, "the pools it reported before: the earlier objects");
    assert.equal(full.powerLimitStepsW, fullA.powerLimitStepsW);
  });

  test("an unsupported action gives ok:false without sending anything", async () => {
    const spec = { ...luxosDialect, capabilities: () => [] };
    const before = luxosSessionCounters("lux0");
    const d = new MinerDriver(spec, { host: HOSTS[0]!, port: 4028 }, { confirm: CONFIRM });
    const res = await d.sleep();
    assert.equal(res.ok, false);
    assert.equal(res.attempts, 0);
    assert.match(res.reason ?? "", /cannot sleep/);
    assert.deepEqual(luxosSessionCounters("lux0"), before);
  });
});
