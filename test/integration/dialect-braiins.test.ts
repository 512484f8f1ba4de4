// The Braiins OS dialect (drivers/cgminer/dialects/braiins.ts) against the
// simulated BOSer (sim/cgminer/dialects/braiins.ts) over loopback (127.72.x).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { braiinsDialect } from "../../drivers/cgminer/dialects/braiins.ts";
import { MinerDriver } from "../../drivers/cgminer/driver.ts";
import { encodeRequest, exchange } from "../../drivers/cgminer/framing.ts";
import { refuseBraiinsCommand } from "../../sim/cgminer/dialects/braiins.ts";
import { type CgminerSim, startCgminerSim } from "../../sim/cgminer/server.ts";
import { PowerModel } from "../../sim/power-model.ts";

const HOSTS = ["127.72.0.1", "127.72.0.2", "127.72.0.3"];
const CONFIRM = { confirmTimeoutMs: 3000, pollMs: 100 };

describe("Braiins OS dialect", () => {
  let model: PowerModel;
  let sim: CgminerSim;
  const driverFor = (i: number) =>
    new MinerDriver(braiinsDialect, { host: HOSTS[i]!, port: 4028, credentials: null }, { confirm: CONFIRM });

  before(async () => {
    model = new PowerModel({ seed: 72 });
    sim = await startCgminerSim({
      model,
      miners: HOSTS.map((host, i) => ({
        id: `bos${i}`,
        host,
        port: 4028,
        model: "antminer-s19-xp",
        dialect: "braiins",
      })),
    });
  });
  after(() => sim.stop());

  test("declares sleep and wake only (power targets need gRPC)", () => {
    assert.deepEqual(driverFor(0).describe(), { dialect: "braiins", capabilities: ["sleep", "wake"] });
  });

  test("version carries the BOSer marker", async () => {
    const raw = await exchange(HOSTS[0]!, 4028, encodeRequest("version"));
    assert.match(raw.toString("utf8"), /"BOSer":"boser-/);
  });

  test("reads: TH/s from MHS, tuner watts and power limit, temps, fans", async () => {
    const r = await driverFor(0).read();
    assert.equal(r.state, "hashing", r.reason ?? "");
    const ths = model.hashrateThs("bos0");
    assert.ok(r.hashrateThs !== null && Math.abs(r.hashrateThs - ths) / ths < 0.05, `${r.hashrateThs} TH/s`);
    assert.equal(r.powerW, Math.round(model.powerW("bos0")));
    assert.equal(r.powerEstimated, false);
    assert.equal(r.powerLimitW, 3010);
    assert.equal(r.boardTempsC.length, 3);
    assert.ok(r.chipTempMaxC !== null && r.chipTempMaxC > r.boardTempsC[0]!);
    assert.equal(r.fanRpm.length, 4);
    assert.match(r.firmware ?? "", /^bosminer /);
    assert.equal(r.model, "Antminer S19 XP");
  });

  test("sleep (pause) → sleeping, draw falls; wake (resume) → hashing", async () => {
    const d = driverFor(1);
    const before = model.powerW("bos1");
    const slept = await d.sleep();
    assert.equal(slept.ok, true, slept.reason ?? "");
    assert.equal(slept.after?.state, "sleeping");
    assert.equal(model.state("bos1"), "sleeping");
    assert.ok(model.powerW("bos1") < before * 0.1);
    const woke = await d.wake();
    assert.equal(woke.ok, true, woke.reason ?? "");
    assert.equal(model.state("bos1"), "hashing");
  });

  test("a refused pause gives ok:false with the miner's reason", async () => {
    refuseBraiinsCommand("bos2", "pause");
    try {
      const res = await driverFor(2).sleep();
      assert.equal(res.ok, false);
      assert.equal(res.attempts, 1);
      assert.match(
        res.reason ?? "",
        /WK_BRAIINS_REFUSED: pause refused: Pause refused: miner busy \(Code 410\)/,
      );
      assert.equal(model.state("bos2"), "hashing");
    } finally {
      refuseBraiinsCommand("bos2", "pause", false);
    }
  });

  test("setPowerLimit is not claimed: ok:false, nothing sent", async () => {
    const res = await driverFor(2).setPowerLimit(2500);
    assert.equal(res.ok, false);
    assert.equal(res.attempts, 0);
    assert.equal(res.before, null, "not even a read");
    assert.match(res.reason ?? "", /braiins dialect cannot setPowerLimit/);
    assert.equal(model.minerView("bos2").powerLimitW, null);
  });
});
