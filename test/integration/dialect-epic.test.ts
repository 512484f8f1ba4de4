// The ePIC UMC dialect (drivers/cgminer/dialects/epic/dialect.ts) against the simulated
// ePIC units (sim/epic) over loopback (127.131.x): reads, every write confirmed
// by read-back, passwords, slow and drifted firmware, and `dialect: auto`
// telling ePIC's HTTP on 4028 from a CGMiner API on 4028.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { detectDialect } from "../../drivers/cgminer/detect.ts";
import { epicDialect } from "../../drivers/cgminer/dialects/epic/dialect.ts";
import { MinerDriver, type MinerEndpoint } from "../../drivers/cgminer/driver.ts";
import { createMiner } from "../../drivers/cgminer/miner.ts";
import type { DriverError } from "../../drivers/types.ts";
import { type CgminerSim, startCgminerSim } from "../../sim/cgminer/server.ts";
import { type EpicSim, type EpicSimMiner, startEpicSim } from "../../sim/epic/server.ts";
import { PowerModel } from "../../sim/power-model.ts";
import { startSimSite } from "../../sim/site.ts";

const CONFIRM = { confirmTimeoutMs: 3000, pollMs: 100 };
const PASSWORD = "letmein";
const H = {
  read: "127.131.0.1",
  sleep: "127.131.0.2",
  limit: "127.131.0.3",
  reboot: "127.131.0.4",
  badPw: "127.131.0.5",
  badPwOld: "127.131.0.6",
  slow: "127.131.0.7",
  drifted: "127.131.0.8",
  old: "127.131.0.9",
  noPower: "127.131.0.10",
  capped: "127.131.0.11",
  auto: "127.131.0.12",
  autoClose: "127.131.0.13",
  autoSilent: "127.131.0.14",
  noPw: "127.131.0.15",
};
const STOCK = "127.131.1.1";
const DEAD = "127.131.1.2";
const SITE = "127.131.2.1";

const SIMS: EpicSimMiner[] = [
  { id: "read", host: H.read, port: 4028 },
  { id: "sleep", host: H.sleep, port: 4028 },
  { id: "limit", host: H.limit, port: 4028 },
  { id: "reboot", host: H.reboot, port: 4028, rebootMs: 300 },
  { id: "badPw", host: H.badPw, port: 4028, password: "secret" },
  { id: "badPwOld", host: H.badPwOld, port: 4028, password: "secret", firmware: "1.22" },
  { id: "slow", host: H.slow, port: 4028, replyDelayMs: 2000 },
  { id: "drifted", host: H.drifted, port: 4028, firmware: "drifted" },
  { id: "old", host: H.old, port: 4028, firmware: "1.22" },
  { id: "noPower", host: H.noPower, port: 4028, powerTuning: false },
  { id: "capped", host: H.capped, port: 4028, refuseTargetAboveW: 2600 },
  { id: "auto", host: H.auto, port: 4028 },
  { id: "autoClose", host: H.autoClose, port: 4028, cgminerRequest: "close" },
  { id: "autoSilent", host: H.autoSilent, port: 4028, cgminerRequest: "silent" },
  { id: "noPw", host: H.noPw, port: 4028 },
];

describe("ePIC UMC dialect", () => {
  let model: PowerModel;
  let sim: EpicSim;
  let stock: CgminerSim;
  const drivers: MinerDriver[] = [];
  const endpoint = (host: string, password: string | null = PASSWORD): MinerEndpoint => ({
    host,
    port: 4028,
    credentials: { username: null, password },
  });
  const driverFor = (host: string, password: string | null = PASSWORD, exchange = {}) => {
    const d = new MinerDriver(epicDialect, endpoint(host, password), { confirm: CONFIRM, exchange });
    drivers.push(d);
    return d;
  };

  before(async () => {
    model = new PowerModel({ seed: 131 });
    sim = await startEpicSim({ model, miners: SIMS.map((m) => ({ ...m, model: "antminer-s19-xp" })) });
    stock = await startCgminerSim({ model, miners: [{ id: "stock", host: STOCK, port: 4028 }] });
  });
  after(async () => {
    await Promise.all(drivers.map((d) => d.close()));
    await sim.stop();
    await stock.stop();
  });

  test("capabilities: every write with a password, none without", () => {
    assert.deepEqual(driverFor(H.read).describe().capabilities, [
      "sleep",
      "wake",
      "setPowerLimit",
      "reboot",
      "locate",
    ]);
    assert.deepEqual(driverFor(H.noPw, null).describe().capabilities, []);
  });

  test("reads the summary: TH/s from MH/s, PSU watts, tuner range, temps, fans, pools, firmware, model", async () => {
    const d = driverFor(H.read);
    const r = await d.read();
    assert.equal(r.state, "hashing", r.reason ?? "");
    const ths = model.hashrateThs("read");
    assert.ok(r.hashrateThs !== null && Math.abs(r.hashrateThs - ths) / ths < 0.05, `${r.hashrateThs} TH/s`);
    assert.ok(r.powerW !== null && Math.abs(r.powerW - model.powerW("read")) < 1, `${r.powerW} W`);
    assert.equal(r.powerEstimated, false);
    assert.equal(r.powerLimitW, null, "a hashrate tuner runs: no power target");
    assert.equal(r.minPowerLimitW, 1505);
    assert.equal(r.maxPowerLimitW, 3311);
    assert.equal(r.boardTempsC.length, 3);
    assert.ok(r.chipTempMaxC !== null && r.chipTempMaxC > Math.max(...r.boardTempsC));
    assert.equal(r.fanRpm.length, 4);
    assert.deepEqual(r.pools, [
      { url: "stratum+tcp://pool.sim.invalid:3333", user: "wattkeeper.read", status: "Alive" },
    ]);
    assert.ok(r.uptimeS !== null && r.uptimeS > 0);
    assert.equal(r.firmware, "epic 1.5.13");
    assert.equal(r.model, "Antminer S19 XP");
    await d.confirmed();
    assert.deepEqual(d.withdrawn, []);
    // reads carry no password: only POSTs do
    assert.equal(sim.stats("read").posts.filter((p) => p.path !== "/authenticate").length, 0);
  });

  test("the state comes from the model, whoever slept the miner", async () => {
    const d = driverFor(H.read);
    model.sleep("read");
    try {
      const r = await d.read();
      assert.equal(r.state, "sleeping");
      assert.ok(r.powerW !== null && r.powerW < 100, `${r.powerW} W asleep`);
      assert.equal(r.hashrateThs, 0);
    } finally {
      model.wake("read");
    }
  });

  test("sleep (miner Stop) → sleeping with power fallen; wake (Autostart) → hashing", async () => {
    const m = createMiner(endpoint(H.sleep), "epic", { confirm: CONFIRM });
    try {
      const before = model.powerW("sleep");
      const slept = await m.write("sleep");
      assert.equal(slept.ok, true, slept.reason ?? "");
      assert.equal(slept.after?.state, "sleeping");
      assert.ok(slept.after?.powerW !== null && slept.after!.powerW! < before * 0.1, "power fell");
      assert.equal(model.state("sleep"), "sleeping");
      const woke = await m.write("wake");
      assert.equal(woke.ok, true, woke.reason ?? "");
      assert.equal(model.state("sleep"), "hashing");
      const posts = sim.stats("sleep").posts.filter((p) => p.path === "/miner");
      assert.deepEqual(
        posts.map((p) => p.body),
        [
          { param: "Stop", password: PASSWORD },
          { param: "Autostart", password: PASSWORD },
        ],
      );
    } finally {
      await m.close();
    }
  });

  test("setPowerLimit: the Power tuner's target, read back; outside the unit's range refused before sending", async () => {
    const m = createMiner(endpoint(H.limit), "epic", { confirm: CONFIRM });
    try {
      const res = await m.write("setPowerLimit", 2400.4);
      assert.equal(res.ok, true, res.reason ?? "");
      assert.equal(res.after?.powerLimitW, 2400);
      assert.equal(model.minerView("limit").powerLimitW, 2400);
      assert.ok(res.after!.powerW! <= 2400.5, `${res.after?.powerW} W`);
      const sent = sim.stats("limit").posts.filter((p) => p.path === "/perpetualtune/algo");
      assert.deepEqual(sent.at(-1)?.body, { param: { algo: "Power", target: 2400 }, password: PASSWORD });

      const low = await m.write("setPowerLimit", 900);
      assert.equal(low.ok, false);
      assert.equal(low.attempts, 1);
      assert.match(low.reason ?? "", /WK_EPIC_OUT_OF_RANGE: power target 900 W is outside .*1505–3311 W/);
      assert.equal(
        sim.stats("limit").posts.filter((p) => p.path === "/perpetualtune/algo").length,
        sent.length,
      );
    } finally {
      await m.close();
    }
  });

  test("reboot: confirmed by the uptime starting again", async () => {
    const m = createMiner(endpoint(H.reboot), "epic", { confirm: CONFIRM });
    try {
      const before = await m.read();
      assert.ok(before.uptimeS !== null && before.uptimeS > 60);
      const res = await m.write("reboot", undefined, { before });
      assert.equal(res.ok, true, res.reason ?? "");
      assert.ok(res.after!.uptimeS! < before.uptimeS!, `${res.after?.uptimeS} s`);
      assert.deepEqual(sim.stats("reboot").posts.at(-1), {
        path: "/reboot",
        body: { param: 0, password: PASSWORD },
      });
    } finally {
      await m.close();
    }
  });

  test("wrong password (UMC 1.30): /authenticate says so at first contact, every write withdrawn", async () => {
    const d = driverFor(H.badPw, "not-it");
    await d.read();
    await d.confirmed();
    assert.deepEqual(d.describe().capabilities, []);
    const res = await d.sleep();
    assert.equal(res.ok, false);
    assert.equal(res.attempts, 0);
    assert.match(res.reason ?? "", /WK_EPIC_AUTH: .*refuses the configured password \(BadPassword\)/);
    assert.equal(model.state("badPw"), "hashing");
  });

  test("wrong password (UMC 1.22, no /authenticate): the write fails once with WK_EPIC_AUTH, not retried", async () => {
    const d = driverFor(H.badPwOld, "not-it");
    await d.read();
    await d.confirmed();
    assert.equal(d.capabilities.has("sleep"), true, "not known before a write");
    const res = await d.sleep();
    assert.equal(res.ok, false);
    assert.equal(res.attempts, 1);
    assert.match(res.reason ?? "", /WK_EPIC_AUTH: POST \/miner: .*\(BadPassword: Authentication failed\)/);
    assert.equal(sim.stats("badPwOld").posts.filter((p) => p.path === "/miner").length, 1);
    assert.equal(model.state("badPwOld"), "hashing");
  });

  test("a slow unit reads as unreachable within the deadline", async () => {
    const d = driverFor(H.slow, PASSWORD, { connectTimeoutMs: 200, readTimeoutMs: 300 });
    const t0 = Date.now();
    const r = await d.read();
    const ms = Date.now() - t0;
    assert.equal(r.state, "unreachable");
    assert.match(
      r.reason ?? "",
      /^WK_EPIC_TIMEOUT: GET http:\/\/127\.131\.0\.7:4028\/summary: no reply within 500 ms/,
    );
    assert.ok(ms < 1000, `${ms} ms`);
  });

  test("a drifted firmware reads as faulted with WK_FIRMWARE_CHANGED naming firmware, version and change", async () => {
    const r = await driverFor(H.drifted).read();
    assert.equal(r.state, "faulted");
    assert.match(
      r.reason ?? "",
      /^WK_FIRMWARE_CHANGED: ePIC firmware "PowerPlay-BMS v2\.0\.0" \(version 2\.0\.0\)/,
    );
    assert.match(r.reason ?? "", /GET \/summary/);
    assert.match(r.reason ?? "", /"Power Supply Stats"\."Input Power": .*expected number, received string/);
    assert.match(r.reason ?? "", /"Session"\."Uptime"/);
    // and back: the documented shape reads again
    sim.setQuirks("drifted", { firmware: "1.30" });
    try {
      assert.equal((await driverFor(H.drifted).read()).state, "hashing");
    } finally {
      sim.setQuirks("drifted", { firmware: "drifted" });
    }
  });

  test("UMC 1.22 replies (errors as objects) are read; an idle unit with an error is faulted, not asleep", async () => {
    const d = driverFor(H.old);
    assert.equal((await d.read()).state, "hashing");
    model.setHashboards("old", "dead");
    try {
      const r = await d.read();
      assert.equal(r.state, "faulted");
      assert.match(r.reason ?? "", /Idling: NoHashboardsConnected: there is no hashboard connected/);
    } finally {
      model.setHashboards("old", "ok");
    }
    model.setHashboards("read", "disabled");
    try {
      const r = await driverFor(H.read).read();
      assert.equal(r.reason, "Idling: NoHashboardsEnabled", "1.30: the bare variant name");
    } finally {
      model.setHashboards("read", "ok");
    }
  });

  test("a tuner without the Power algorithm: setPowerLimit withdrawn at first contact, with why", async () => {
    const d = driverFor(H.noPower);
    const r = await d.read();
    assert.equal(r.minPowerLimitW, null);
    await d.confirmed();
    assert.deepEqual(d.describe().capabilities, ["sleep", "wake", "reboot", "locate"]);
    assert.match(
      d.withdrawn[0]?.reason ?? "",
      /no power target: PerpetualTune offers VoltageOptimizer, ChipTune, BoardTune/,
    );
    const res = await d.setPowerLimit(2500);
    assert.equal(res.ok, false);
    assert.equal(res.attempts, 0);
  });

  test("a unit that refuses targets above a wattage: ok:false with its words, not retried", async () => {
    const d = driverFor(H.capped);
    const up = await d.setPowerLimit(3000);
    assert.equal(up.ok, false);
    assert.equal(up.attempts, 1);
    assert.match(
      up.reason ?? "",
      /WK_EPIC_REFUSED: POST \/perpetualtune\/algo refused: UnknownError: power target above 2600 W refused/,
    );
    assert.equal(model.minerView("capped").powerLimitW, null);
    const down = await d.setPowerLimit(2500);
    assert.equal(down.ok, true, down.reason ?? "");
  });

  test("dialect auto: an ePIC unit on 4028 is told from a CGMiner API, well under a second", async () => {
    const before = sim.stats("auto").notHttp;
    const t0 = performance.now();
    const found = await detectDialect({ host: H.auto, port: 4028 });
    const ms = performance.now() - t0;
    assert.equal(found.dialect, "epic");
    assert.match(found.evidence, /GET \/summary on port 4028: ePIC UMC PowerPlay-BMS v1\.5\.13, umcOS/);
    assert.ok(ms < 500, `detection took ${ms.toFixed(0)} ms`);
    assert.equal(sim.stats("auto").notHttp, before + 1, "the CGMiner probe came first and met HTTP");

    const m = createMiner(endpoint(H.auto), "auto", { confirm: CONFIRM });
    try {
      const r = await m.read();
      assert.equal(m.dialect, "epic");
      assert.equal(r.state, "hashing", r.reason ?? "");
      assert.equal(r.firmware, "epic 1.5.13");
    } finally {
      await m.close();
    }
  });

  test("dialect auto: a unit that drops or ignores a CGMiner request is still found", async () => {
    const t0 = performance.now();
    assert.equal((await detectDialect({ host: H.autoClose, port: 4028 })).dialect, "epic");
    assert.ok(performance.now() - t0 < 500);
    // a silent HTTP server costs the CGMiner probe its read deadline, no more
    const t1 = performance.now();
    const silent = await detectDialect({ host: H.autoSilent, port: 4028 }, { readTimeoutMs: 300 });
    assert.equal(silent.dialect, "epic");
    assert.ok(performance.now() - t1 < 1000);
  });

  test("dialect auto: a host whose API port refuses is not asked again over HTTP on that port", async () => {
    await assert.rejects(
      detectDialect({ host: DEAD, port: 4028 }),
      (err: DriverError) => err.code === "WK_CGMINER_REFUSED",
    );
  });

  test("dialect auto: a stock bmminer on 4028 stays a stock Antminer (the ePIC probe says no)", async () => {
    const found = await detectDialect({ host: STOCK, port: 4028 });
    assert.equal(found.dialect, "antminer");
    const m = createMiner({ host: STOCK, port: 4028 }, "auto");
    try {
      assert.equal((await m.read()).state, "hashing");
      assert.equal(m.dialect, "antminer");
    } finally {
      await m.close();
    }
  });
});

describe("ePIC in the simulated site", () => {
  test("an epic miner gets an ePIC listener on its port, no CGMiner API; the meters see its sleep", async () => {
    const site = await startSimSite({
      miners: [
        { id: "e1", host: SITE, port: 0, dialect: "epic", model: "antminer-s21", epic: { password: "pw" } },
      ],
      meters: [],
    });
    try {
      assert.deepEqual(site.cgminer.endpoints, []);
      const port = site.epic.endpoints[0]!.port;
      assert.ok(port > 0);
      const m = createMiner({ host: SITE, port, credentials: { username: null, password: "pw" } }, "auto", {
        confirm: CONFIRM,
      });
      try {
        assert.equal((await m.read()).model, "Antminer S21");
        assert.equal(m.dialect, "epic");
        const before = site.model.minersW();
        const res = await m.write("sleep");
        assert.equal(res.ok, true, res.reason ?? "");
        assert.ok(site.model.minersW() < before * 0.1);
      } finally {
        await m.close();
      }
    } finally {
      await site.stop();
    }
  });
});
