// The Braiins OS dialect (drivers/cgminer/dialects/braiins/) against the
// simulated BOSer (sim/cgminer/dialects/braiins.ts) and its gRPC API
// (sim/braiins-grpc) over loopback (127.72.x).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { BraiinsClient } from "../../drivers/cgminer/dialects/braiins/client.ts";
import { braiinsDialect } from "../../drivers/cgminer/dialects/braiins/dialect.ts";
import { MinerDriver, type MinerEndpoint } from "../../drivers/cgminer/driver.ts";
import { encodeRequest, exchange } from "../../drivers/cgminer/framing.ts";
import type { DriverError } from "../../drivers/types.ts";
import { type BraiinsGrpcSim, startBraiinsGrpcSim } from "../../sim/braiins-grpc/server.ts";
import { refuseBraiinsCommand } from "../../sim/cgminer/dialects/braiins.ts";
import { type CgminerSim, startCgminerSim } from "../../sim/cgminer/server.ts";
import { PowerModel } from "../../sim/power-model.ts";
import { startSimSite } from "../../sim/site.ts";
import { waitFor } from "../helpers/ports.ts";

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

  test("without credentials: sleep and wake only (power targets need a gRPC login)", () => {
    assert.deepEqual(driverFor(0).describe(), {
      dialect: "braiins",
      capabilities: ["sleep", "wake"],
      withdrawn: [],
    });
  });

  test("version carries the BOSer marker", async () => {
    const raw = await exchange({ host: HOSTS[0]!, port: 4028 }, encodeRequest("version"));
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

describe("Braiins OS power target over gRPC", () => {
  // one host per test so each gets its own client, session and token
  const HOST = {
    ok: "127.72.1.1",
    wrong: "127.72.1.2",
    revoked: "127.72.1.3",
    expired: "127.72.1.4",
    min: "127.72.1.5",
    slow: "127.72.1.6",
  };
  const PASSWORD = "test-pass";
  let clock = Date.now();
  let model: PowerModel;
  let cgminer: CgminerSim;
  let grpc: BraiinsGrpcSim;
  const drivers: MinerDriver[] = [];
  const idOf = (host: string) => `bos-${host}`;
  const endpoint = (host: string, password: string | null = PASSWORD): MinerEndpoint => ({
    host,
    port: 4028,
    grpcPort: 50051,
    credentials: { username: "root", password },
  });
  const driverFor = (host: string, password: string | null = PASSWORD, opts = {}) => {
    const d = new MinerDriver(braiinsDialect, endpoint(host, password), { confirm: CONFIRM, ...opts });
    drivers.push(d);
    return d;
  };

  before(async () => {
    model = new PowerModel({ seed: 73, now: () => clock });
    const hosts = Object.values(HOST);
    cgminer = await startCgminerSim({
      model,
      miners: hosts.map((host) => ({
        id: idOf(host),
        host,
        port: 4028,
        model: "antminer-s19-xp",
        dialect: "braiins",
      })),
    });
    grpc = await startBraiinsGrpcSim({
      model,
      miners: hosts.map((host) => ({ id: idOf(host), host, port: 50051, password: PASSWORD })),
    });
  });
  after(async () => {
    await Promise.all(drivers.map((d) => d.close()));
    await grpc.stop();
    await cgminer.stop();
  });

  test("credentials (username + password) add setPowerLimit and locate; a missing password does not", () => {
    assert.deepEqual(new MinerDriver(braiinsDialect, endpoint(HOST.ok)).describe().capabilities, [
      "sleep",
      "wake",
      "setPowerLimit",
      "locate",
    ]);
    // an empty password is the BOS factory default: still a configured credential
    assert.ok(new MinerDriver(braiinsDialect, endpoint(HOST.ok, "")).capabilities.has("setPowerLimit"));
    const none = new MinerDriver(braiinsDialect, endpoint(HOST.ok, null));
    assert.equal(none.capabilities.has("setPowerLimit"), false);
    assert.equal(none.capabilities.has("locate"), false);
  });

  test("setPowerLimit → SetPowerTarget; PowerLimit reads back, draw ≤ target; the token is reused", async () => {
    const id = idOf(HOST.ok);
    const d = driverFor(HOST.ok);
    const nominal = model.powerW(id);
    const res = await d.setPowerLimit(2500);
    assert.equal(res.ok, true, res.reason ?? "");
    assert.equal(res.attempts, 1);
    assert.equal(res.after?.powerLimitW, 2500);
    assert.ok(res.after?.powerW !== null && res.after!.powerW! <= 2500, `${res.after?.powerW} W`);
    assert.equal(model.minerView(id).powerLimitW, 2500);
    assert.ok(model.powerW(id) <= 2500 && model.powerW(id) < nominal);
    const again = await d.setPowerLimit(2400);
    assert.equal(again.ok, true, again.reason ?? "");
    assert.equal((await d.read()).powerLimitW, 2400);
    assert.equal(grpc.loginCount(id), 1, "one login, the token cached for the second call");
  });

  test("GetTunerState reports the target in force", async () => {
    const c = new BraiinsClient({ host: HOST.ok, username: "root", password: PASSWORD });
    try {
      const s = await c.getTunerState();
      assert.equal(s.powerTargetW, 2400);
      assert.equal(s.overallState, 2, "STABLE while hashing");
    } finally {
      await c.close();
    }
  });

  test("a wrong password: ok:false with a clear reason, one attempt, nothing changed", async () => {
    const id = idOf(HOST.wrong);
    const res = await driverFor(HOST.wrong, "not-the-password").setPowerLimit(2500);
    assert.equal(res.ok, false);
    // the capability probe at first contact met the refused login: nothing was sent
    assert.equal(res.attempts, 0);
    assert.match(
      res.reason ?? "",
      /^setPowerLimit not offered by this miner: the gRPC API \(power target\) fails: WK_BRAIINS_LOGIN_FAILED: login as "root" refused \(grpc-status 16/,
    );
    assert.match(res.reason ?? "", /Invalid username or password/);
    assert.equal(model.minerView(id).powerLimitW, null);
    assert.equal(grpc.loginCount(id), 0);
  });

  test("a revoked token (miner restart) is re-logged once", async () => {
    const id = idOf(HOST.revoked);
    const d = driverFor(HOST.revoked);
    assert.equal((await d.setPowerLimit(2600)).ok, true);
    assert.equal(grpc.loginCount(id), 1);
    grpc.revokeTokens(id);
    const res = await d.setPowerLimit(2300);
    assert.equal(res.ok, true, res.reason ?? "");
    assert.equal(res.attempts, 1);
    assert.equal(model.minerView(id).powerLimitW, 2300);
    assert.equal(grpc.loginCount(id), 2);
  });

  test("a token idle for over 3600 s on the miner is re-logged once", async () => {
    const id = idOf(HOST.expired);
    const d = driverFor(HOST.expired);
    assert.equal((await d.setPowerLimit(2700)).ok, true);
    clock += 3_601_000; // the miner's clock; the driver's own clock still trusts its token
    const res = await d.setPowerLimit(2200);
    assert.equal(res.ok, true, res.reason ?? "");
    assert.equal(model.minerView(id).powerLimitW, 2200);
    assert.equal(grpc.loginCount(id), 2);
  });

  test("the client forgets a token idle for an hour by its own clock and logs in first", async () => {
    const id = idOf(HOST.expired);
    let own = 0;
    const c = new BraiinsClient({
      host: HOST.expired,
      username: "root",
      password: PASSWORD,
      now: () => own,
    });
    try {
      // same miner and credentials: this client reuses the driver's cached token and stamps it with its clock
      await c.setPowerTarget(2100);
      const logins = grpc.loginCount(id);
      own += 3_600_000;
      await c.setPowerTarget(2150);
      assert.equal(grpc.loginCount(id), logins + 1);
    } finally {
      await c.close();
    }
  });

  test("a target below the miner's minimum: INVALID_ARGUMENT, not retried", async () => {
    const id = idOf(HOST.min);
    const res = await driverFor(HOST.min).setPowerLimit(500);
    assert.equal(res.ok, false);
    assert.equal(res.attempts, 1);
    assert.match(
      res.reason ?? "",
      /^WK_BRAIINS_INVALID_ARGUMENT: PerformanceService\/SetPowerTarget: grpc-status 3 .*below the minimum/,
    );
    assert.equal(model.minerView(id).powerLimitW, null);
  });

  test("a call that hangs times out, closing the stream and the session", async () => {
    const id = idOf(HOST.slow);
    const d = driverFor(HOST.slow, PASSWORD, {
      exchange: { connectTimeoutMs: 100, readTimeoutMs: 200 },
      confirm: { ...CONFIRM, retries: 1 },
    });
    grpc.setReplyDelay(id, 5000);
    try {
      const t0 = Date.now();
      const res = await d.setPowerLimit(2500);
      assert.equal(res.ok, false);
      assert.match(
        res.reason ?? "",
        /^WK_BRAIINS_TIMEOUT: AuthenticationService\/Login to 127\.72\.1\.6:50051: no reply within 300 ms/,
      );
      assert.ok(Date.now() - t0 < 3000);
      await waitFor("the client to tear its session down", () => grpc.sessionCount(id) === 0, 1000, 20);
    } finally {
      grpc.setReplyDelay(id, 0);
    }
    const res = await d.setPowerLimit(2500);
    assert.equal(res.ok, true, res.reason ?? "");
  });

  test("nothing listening: WK_BRAIINS_UNREACHABLE, retryable", async () => {
    const c = new BraiinsClient({ host: "127.72.1.99", username: "root", password: "", timeoutMs: 2000 });
    try {
      await assert.rejects(c.setPowerTarget(2000), (err: DriverError) => {
        assert.equal(err.code, "WK_BRAIINS_UNREACHABLE");
        assert.equal(err.retryable, true);
        assert.match(err.message, /ECONNREFUSED/);
        return true;
      });
    } finally {
      await c.close();
    }
  });

  test("close() closes the HTTP/2 sessions", async () => {
    assert.ok(grpc.sessionCount() > 0);
    await Promise.all(drivers.splice(0).map((d) => d.close()));
    await waitFor("every HTTP/2 session closed", () => grpc.sessionCount() === 0, 1000, 20);
  });
});

test("the simulated site serves the gRPC API beside 4028 for braiins miners (root, empty password)", async () => {
  const site = await startSimSite({
    miners: [
      { id: "site-bos", host: "127.72.2.1", port: 4028, model: "antminer-s19-xp", dialect: "braiins" },
    ],
    meters: [],
  });
  const d = new MinerDriver(
    braiinsDialect,
    { host: "127.72.2.1", port: 4028, credentials: { username: "root", password: "" } },
    { confirm: CONFIRM },
  );
  try {
    const res = await d.setPowerLimit(2800);
    assert.equal(res.ok, true, res.reason ?? "");
    assert.equal(site.model.minerView("site-bos").powerLimitW, 2800);
  } finally {
    await d.close();
    await site.stop();
  }
});
