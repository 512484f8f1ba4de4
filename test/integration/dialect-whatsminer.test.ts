// The Whatsminer dialect end to end against the simulated site on loopback
// (127.74.x): v2 plaintext reads and token/AES writes on 4028, API v3 on 4433,
// and the physics behind them (the power model's draw).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { detectDialect } from "../../drivers/cgminer/detect.ts";
import {
  whatsminerDialect,
  whatsminerSessionInfo,
} from "../../drivers/cgminer/dialects/whatsminer/dialect.ts";
import { MinerDriver, type MinerEndpoint } from "../../drivers/cgminer/driver.ts";
import { exchange } from "../../drivers/cgminer/framing.ts";
import { PowerModel } from "../../sim/power-model.ts";
import { type SimSite, startSimSite } from "../../sim/site.ts";
import { whatsminerState } from "../../sim/whatsminer/state.ts";
import { startWhatsminerV3Sim, type WhatsminerV3Sim } from "../../sim/whatsminer/v3-server.ts";

const PASSWORD = "s3cret_1";
const MODEL = "whatsminer-m50s";
const confirm = { confirmTimeoutMs: 3000, pollMs: 100 };

const ep = (host: string, port: number, password: string | null): MinerEndpoint => ({
  host,
  port,
  credentials: password === null ? null : { username: null, password },
});
const driver = (host: string, port: number, password: string | null) =>
  new MinerDriver(whatsminerDialect, ep(host, port, password), { confirm });

describe("whatsminer dialect against the sim", () => {
  let site: SimSite;
  /** How far the sim's clock runs ahead of the driver's: a token expires on the sim without a wait. */
  let simAheadMs = 0;
  let v3only: WhatsminerV3Sim;
  let v3model: PowerModel;
  const drivers: MinerDriver[] = [];
  const d = (host: string, port: number, password: string | null) => {
    const x = driver(host, port, password);
    drivers.push(x);
    return x;
  };

  before(async () => {
    site = await startSimSite({
      now: () => Date.now() + simAheadMs,
      seed: 11,
      meters: [],
      miners: [
        {
          id: "wm-a",
          host: "127.74.0.1",
          port: 4028,
          model: MODEL,
          dialect: "whatsminer",
          whatsminer: { password: PASSWORD, rebootMs: 300 },
        },
        { id: "wm-default", host: "127.74.0.2", port: 4028, model: MODEL, dialect: "whatsminer" },
        {
          id: "wm-new",
          host: "127.74.0.3",
          port: 4028,
          model: MODEL,
          dialect: "whatsminer",
          whatsminer: { password: PASSWORD, v2Writes: "obsolete" },
        },
        {
          id: "wm-ttl",
          host: "127.74.0.4",
          port: 4028,
          model: MODEL,
          dialect: "whatsminer",
          whatsminer: { password: PASSWORD, tokenTtlMs: 150 },
        },
        {
          id: "wm-errs",
          host: "127.74.0.5",
          port: 4028,
          model: MODEL,
          dialect: "whatsminer",
          whatsminer: { errorCodes: 600 },
        },
      ],
    });
    // a miner whose 4028 refuses (v3-only firmware): just the 4433 listener
    v3model = new PowerModel({ seed: 5 });
    v3model.addMiner("wm-v3only", MODEL);
    v3only = await startWhatsminerV3Sim({
      model: v3model,
      miners: [{ id: "wm-v3only", host: "127.74.0.9" }],
    });
    whatsminerState(v3model, "wm-v3only").cfg.password = PASSWORD;
  });

  after(async () => {
    for (const x of drivers) await x.close();
    await v3only?.stop();
    await site?.stop();
  });

  test("read (v2, no credentials): Whatsminer fields normalised, no write capabilities", async () => {
    const drv = d("127.74.0.1", 4028, null);
    assert.deepEqual(drv.describe().capabilities, []);
    const r = await drv.read();
    assert.equal(r.state, "hashing", r.reason ?? "");
    assert.ok(r.hashrateThs! > 110 && r.hashrateThs! < 140, `hashrate ${r.hashrateThs}`);
    assert.ok(Math.abs(r.powerW! - site.model.powerW("wm-a")) <= 1, `power ${r.powerW}`);
    assert.equal(r.powerEstimated, false);
    assert.equal(r.powerLimitW, 3276);
    assert.equal(r.model, "WhatsMiner M50S");
    assert.equal(r.firmware, "20230301.22.REL");
    assert.equal(r.boardTempsC.length, 3);
    assert.equal(r.fanRpm.length, 2);
    assert.equal(r.pools[0]?.status, "Alive");
    const w = await drv.sleep();
    assert.equal(w.ok, false);
    assert.match(w.reason!, /no credentials/);
  });

  test("get_*/status cannot be joined; plaintext get_version carries the marker", async () => {
    const joined = (
      await exchange({ host: "127.74.0.1", port: 4028 }, Buffer.from('{"command":"summary+status"}'))
    ).toString();
    assert.match(joined, /"STATUS":"E"/);
    const ver = JSON.parse(
      (await exchange({ host: "127.74.0.1", port: 4028 }, Buffer.from('{"cmd":"get_version"}'))).toString(),
    );
    assert.equal(ver.STATUS, "S");
    assert.equal(typeof ver.Msg, "object");
    const dd = (
      await exchange({ host: "127.74.0.1", port: 4028 }, Buffer.from('{"command":"devdetails"}'))
    ).toString();
    assert.match(dd, /btminer/i);
    assert.equal((await detectDialect({ host: "127.74.0.1", port: 4028 })).dialect, "whatsminer");
  });

  test(`read survives the ""temp0 quirk and a summary cut at the reply buffer`, async () => {
    const r = await d("127.74.0.5", 4028, null).read();
    assert.equal(r.state, "hashing", r.reason ?? "");
    assert.ok(r.hashrateThs! > 100);
    assert.ok(r.powerW! > 3000);
  });

  test("sleep (v2 power_off): confirmed, the model's draw falls", async () => {
    const drv = d("127.74.0.1", 4028, PASSWORD);
    const before = site.model.powerW("wm-a");
    const out = await drv.sleep();
    assert.equal(out.ok, true, out.reason ?? "");
    assert.equal(out.after?.state, "sleeping");
    assert.equal(site.model.state("wm-a"), "sleeping");
    assert.ok(site.model.powerW("wm-a") < before * 0.1, `draw ${site.model.powerW("wm-a")}`);
    assert.equal(whatsminerSessionInfo(drv.endpoint).mode, "v2");
  });

  test("wake (v2 power_on): confirmed, hashing again", async () => {
    const out = await d("127.74.0.1", 4028, PASSWORD).wake();
    assert.equal(out.ok, true, out.reason ?? "");
    assert.equal(site.model.state("wm-a"), "hashing");
    assert.ok(site.model.powerW("wm-a") > 3000);
  });

  test("setPowerLimit (v2 adjust_power_limit): the miner reboots, then draws at or below the target", async () => {
    const drv = d("127.74.0.1", 4028, PASSWORD);
    const out = await drv.setPowerLimit(2500);
    assert.equal(out.ok, true, out.reason ?? "");
    assert.equal(out.after?.powerLimitW, 2500);
    assert.ok(out.after!.uptimeS! < 30, "uptime restarted: the miner rebooted");
    assert.ok(site.model.powerW("wm-a") <= 2500, `draw ${site.model.powerW("wm-a")}`);
    assert.equal(site.model.state("wm-a"), "hashing");
    // out of range (above nominal) is refused by the miner, not retried
    const bad = await drv.setPowerLimit(9000);
    assert.equal(bad.ok, false);
    assert.match(bad.reason!, /out of range/);
  });

  test("a wrong password: ok false with a clear reason, nothing changes", async () => {
    const sim = whatsminerState(site.model, "wm-a");
    const rejects = sim.stats.tokenRejects;
    const out = await d("127.74.0.1", 4028, "wrong-pw").sleep();
    assert.equal(out.ok, false);
    // its own token (never the cached one of the right password), refreshed once, rejected twice
    assert.equal(sim.stats.tokenRejects, rejects + 2);
    assert.match(out.reason!, /WK_WHATSMINER_AUTH.*wrong password/);
    assert.equal(out.attempts, 1);
    assert.equal(site.model.state("wm-a"), "hashing");
  });

  test("the default password admin is refused for writes (Code 45)", async () => {
    const out = await d("127.74.0.2", 4028, "admin").sleep();
    assert.equal(out.ok, false);
    assert.match(out.reason!, /Code 45/);
    assert.match(out.reason!, /default password 'admin'/);
    assert.equal(site.model.state("wm-default"), "hashing");
  });

  test("an expired token is refreshed once and the write goes through", async () => {
    const drv = d("127.74.0.4", 4028, PASSWORD);
    const sim = whatsminerState(site.model, "wm-ttl");
    assert.equal((await drv.sleep()).ok, true);
    assert.equal(whatsminerSessionInfo(drv.endpoint).tokensFetched, 1);
    simAheadMs += 250; // the sim's tokens live 150 ms; ours, on the driver's clock, is still "fresh"
    const rejectsBefore = sim.stats.tokenRejects;
    const out = await drv.wake();
    assert.equal(out.ok, true, out.reason ?? "");
    assert.equal(out.attempts, 1);
    assert.equal(sim.stats.tokenRejects, rejectsBefore + 1);
    assert.equal(whatsminerSessionInfo(drv.endpoint).tokensFetched, 2);
    assert.equal(site.model.state("wm-ttl"), "hashing");
  });

  test("v3 on 4433: sleep, wake and power limit", async () => {
    const drv = d("127.74.0.3", 4433, PASSWORD);
    const r = await drv.read();
    assert.equal(r.state, "hashing", r.reason ?? "");
    assert.ok(r.hashrateThs! > 100);
    const s = await drv.sleep();
    assert.equal(s.ok, true, s.reason ?? "");
    assert.ok(site.model.powerW("wm-new") < 100);
    const w = await drv.wake();
    assert.equal(w.ok, true, w.reason ?? "");
    assert.equal(site.model.state("wm-new"), "hashing");
    const p = await drv.setPowerLimit(2600);
    assert.equal(p.ok, true, p.reason ?? "");
    assert.ok(site.model.powerW("wm-new") <= 2600);
  });

  test("v2 writes answered 'obsolete' switch the miner to v3, and the choice is cached", async () => {
    const drv = d("127.74.0.3", 4028, PASSWORD);
    assert.equal(whatsminerSessionInfo(drv.endpoint).mode, null);
    const s = await drv.sleep();
    assert.equal(s.ok, true, s.reason ?? "");
    assert.equal(whatsminerSessionInfo(drv.endpoint).mode, "v3");
    assert.equal(site.model.state("wm-new"), "sleeping");
    const w = await drv.wake();
    assert.equal(w.ok, true, w.reason ?? "");
    assert.equal(site.model.state("wm-new"), "hashing");
  });

  test("4028 refused: reads and writes go to v3 on 4433", async () => {
    const drv = d("127.74.0.9", 4028, PASSWORD);
    const r = await drv.read();
    assert.equal(r.state, "hashing", r.reason ?? "");
    assert.equal(whatsminerSessionInfo(drv.endpoint).mode, "v3");
    const s = await drv.sleep();
    assert.equal(s.ok, true, s.reason ?? "");
    assert.equal(v3model.state("wm-v3only"), "sleeping");
    // the v3 default password is refused too
    whatsminerState(v3model, "wm-v3only").cfg.password = "super";
    const denied = await d("127.74.0.9", 4433, "super").wake();
    assert.equal(denied.ok, false);
    assert.match(denied.reason!, /WK_WHATSMINER_DENIED/);
  });

  test("dialect auto finds a v3-only unit (4028 refused) through a read-only get.device.info on 4433", async () => {
    const d = await detectDialect({ host: "127.74.0.9", port: 4028 });
    assert.equal(d.dialect, "whatsminer");
    assert.match(d.evidence, /^4433 get\.device\.info: /);
  });
});
