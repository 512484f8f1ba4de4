// The Avalon dialect (drivers/cgminer/dialects/avalon/dialect.ts) against the simulated
// Avalon firmware (sim/cgminer/dialects/avalon.ts) over loopback (127.73.x): what only
// Avalon does. What every dialect does is the miner contract (test/contract).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { avalonDialect, parsePacked, pickWorkLevel } from "../../drivers/cgminer/dialects/avalon/dialect.ts";
import { MinerDriver } from "../../drivers/cgminer/driver.ts";
import { encodeRequest, exchange } from "../../drivers/cgminer/framing.ts";
import { refuseAvalonOption } from "../../sim/cgminer/dialects/avalon.ts";
import { type CgminerSim, startCgminerSim } from "../../sim/cgminer/server.ts";
import { PowerModel } from "../../sim/power-model.ts";

const HOSTS = ["127.73.0.1", "127.73.0.2", "127.73.0.3", "127.73.0.4"];
const CONFIRM = { confirmTimeoutMs: 3000, pollMs: 100 };
const NOMINAL_W = 3500; // the sim's physics: antminer-s21

describe("Avalon dialect", () => {
  let model: PowerModel;
  let sim: CgminerSim;
  const driverFor = (i: number, nominalW: number | null = NOMINAL_W) =>
    new MinerDriver(avalonDialect, { host: HOSTS[i]!, port: 4028, nominalW }, { confirm: CONFIRM });

  before(async () => {
    model = new PowerModel({ seed: 73 });
    sim = await startCgminerSim({
      model,
      miners: HOSTS.map((host, i) => ({
        id: `ava${i}`,
        host,
        port: 4028,
        model: "antminer-s21",
        dialect: "avalon",
      })),
    });
  });
  after(() => sim.stop());

  test("parses packed MM ID strings, including bracketed values with spaces and commas", () => {
    const f = parsePacked(
      "Ver[15-194] SYSTEMSTATU[Work: In Work, Hash Board: 3 ] MTavg[69 70 71] WALLPOWER[3731]",
    );
    assert.deepEqual(f, {
      Ver: "15-194",
      SYSTEMSTATU: "Work: In Work, Hash Board: 3",
      MTavg: "69 70 71",
      WALLPOWER: "3731",
    });
    assert.equal(pickWorkLevel(3500, 3000), 1);
    assert.equal(pickWorkLevel(3500, 9000), 2);
    assert.equal(pickWorkLevel(3500, 1000), null);
  });

  test("version carries PROD/MODEL with the AVALON marker", async () => {
    const raw = (await exchange({ host: HOSTS[0]!, port: 4028 }, encodeRequest("version"))).toString("utf8");
    assert.match(raw, /"PROD":"AvalonMiner 1466"/);
    assert.match(raw, /"MODEL":"1466"/);
  });

  test("reads: TH/s, WALLPOWER watts, temps and fans from estats", async () => {
    const r = await driverFor(0).read();
    assert.equal(r.state, "hashing", r.reason ?? "");
    const ths = model.hashrateThs("ava0");
    assert.ok(r.hashrateThs !== null && Math.abs(r.hashrateThs - ths) / ths < 0.05, `${r.hashrateThs} TH/s`);
    assert.equal(r.powerW, Math.round(model.powerW("ava0")));
    assert.equal(r.powerEstimated, false);
    assert.equal(r.model, "AvalonMiner 1466");
    assert.match(r.firmware ?? "", /^avalon /);
    assert.equal(r.fanRpm.length, 2);
    assert.equal(r.boardTempsC.length, 3);
    assert.ok(r.chipTempMaxC !== null && r.chipTempMaxC > 50);
  });

  test("sleep (softoff) → sleeping, draw falls; wake (softon) → hashing", async () => {
    const d = driverFor(1);
    const before = model.powerW("ava1");
    const slept = await d.sleep();
    assert.equal(slept.ok, true, slept.reason ?? "");
    assert.equal(slept.after?.state, "sleeping");
    assert.equal(slept.after?.reason, "soft off");
    assert.ok(model.powerW("ava1") < before * 0.1);
    const woke = await d.wake();
    assert.equal(woke.ok, true, woke.reason ?? "");
    assert.equal(model.state("ava1"), "hashing");
  });

  test("setPowerLimit → the highest work level at or below the target; the draw stays under it", async () => {
    const d = driverFor(2);
    const res = await d.setPowerLimit(3000);
    assert.equal(res.ok, true, res.reason ?? "");
    assert.ok(model.powerW("ava2") <= 3000, `${model.powerW("ava2")} W`);
    const raw = (await exchange({ host: HOSTS[2]!, port: 4028 }, encodeRequest("estats"))).toString("utf8");
    assert.match(raw, /WORKLEVEL\[1\]/);
    const low = await d.setPowerLimit(1000);
    assert.equal(low.ok, false);
    assert.match(low.reason ?? "", /WK_AVALON_TARGET_TOO_LOW/);
    // back to full power; then without nominalW the level watts come from the reading
    assert.equal((await d.setPowerLimit(5000)).ok, true);
    const guessed = await driverFor(2, null).setPowerLimit(2800);
    assert.equal(guessed.ok, true, guessed.reason ?? "");
    assert.ok(model.powerW("ava2") <= 2800);
  });

  test("a refused ascset gives ok:false with the miner's reason", async () => {
    refuseAvalonOption("ava3", "softoff");
    try {
      const res = await driverFor(3).sleep();
      assert.equal(res.ok, false);
      assert.equal(res.attempts, 1);
      assert.match(
        res.reason ?? "",
        /WK_AVALON_REFUSED: ascset 0,softoff,1:\d+ refused: .*softoff refused \(Code 120\)/,
      );
      assert.equal(model.state("ava3"), "hashing");
    } finally {
      refuseAvalonOption("ava3", "softoff", false);
    }
  });

  test("an unsupported action gives ok:false without sending anything", async () => {
    const d = new MinerDriver(
      { ...avalonDialect, capabilities: () => ["sleep"] },
      { host: HOSTS[0]!, port: 4028 },
    );
    const res = await d.reboot();
    assert.equal(res.ok, false);
    assert.equal(res.attempts, 0);
    assert.equal(res.before, null);
    assert.match(res.reason ?? "", /avalon dialect cannot reboot/);
  });
});
