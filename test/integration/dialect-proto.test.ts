// The Proto rig dialect (drivers/cgminer/dialects/proto/dialect.ts) against the
// simulated rigs' MDK API (sim/proto) over loopback (127.134.x): reads, every
// write confirmed by read-back, the JWT's life, refused and drifted replies,
// and `dialect: auto` telling a rig from a stock Antminer.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { detectDialect } from "../../drivers/cgminer/detect.ts";
import { protoDialect } from "../../drivers/cgminer/dialects/proto/dialect.ts";
import { MinerDriver, type MinerEndpoint } from "../../drivers/cgminer/driver.ts";
import { createMiner, type Miner } from "../../drivers/cgminer/miner.ts";
import type { ProtoSiteSpec } from "../../sim/proto/server.ts";
import { PROTO_SIM_PASSWORD } from "../../sim/proto/server.ts";
import { type SimSite, startSimSite } from "../../sim/site.ts";

const CONFIRM = { confirmTimeoutMs: 3000, pollMs: 100 };
// one host per rig: each has its own token and scheme in the dialect's caches
const RIGS: Record<string, { host: string; proto?: ProtoSiteSpec }> = {
  read: { host: "127.134.0.1" },
  write: { host: "127.134.0.2" },
  wrong: { host: "127.134.0.3", proto: { password: "another-password" } },
  ttl: { host: "127.134.0.4", proto: { tokenTtlS: 2 } },
  slow: { host: "127.134.0.5", proto: { replyDelayMs: 5000 } },
  drift: { host: "127.134.0.6", proto: { drift: "power-as-string" } },
  tls: { host: "127.134.0.7", proto: { tls: true } },
  capped: { host: "127.134.0.8", proto: { refuseTargetAboveW: 3000 } },
  auto: { host: "127.134.0.9" },
};
const STOCK_HOST = "127.134.1.1";

describe("Proto rig dialect (MDK API)", () => {
  let site: SimSite;
  /** The sim's and the drivers' shared clock, run ahead to expire a token without a wait. */
  let aheadMs = 0;
  const clock = () => Date.now() + aheadMs;
  const opened: Miner[] = [];
  const webPort = (id: string) => {
    const e = site.proto.endpoints.find((x) => x.id === id);
    assert.ok(e, `no proto sim for ${id}`);
    return e.port;
  };
  const endpoint = (id: string, password: string | null = PROTO_SIM_PASSWORD): MinerEndpoint => ({
    host: RIGS[id]!.host,
    port: 4028,
    webPort: webPort(id),
    credentials: { username: "admin", password },
  });
  const minerFor = (id: string, password?: string | null, exchange = {}) => {
    const m = createMiner(endpoint(id, password), "proto", { confirm: CONFIRM, exchange, now: clock });
    opened.push(m);
    return m;
  };

  before(async () => {
    site = await startSimSite({
      now: clock,
      seed: 134,
      miners: [
        ...Object.entries(RIGS).map(([id, r]) => ({
          id,
          host: r.host,
          port: 4028,
          webPort: 0,
          dialect: "proto",
          proto: r.proto,
        })),
        { id: "stock", host: STOCK_HOST, port: 4028, model: "antminer-s19j-pro" },
      ],
      meters: [],
      antminerWeb: { port: 0 },
    });
  });
  after(async () => {
    await Promise.all(opened.map((m) => m.close()));
    await site.stop();
  });

  test("reads state, draw, target and its range, hashrate, temperatures, fans, pools, firmware", async () => {
    const r = await minerFor("read").read();
    assert.equal(r.state, "hashing", r.reason ?? "");
    const ths = site.model.hashrateThs("read");
    assert.ok(r.hashrateThs !== null && Math.abs(r.hashrateThs - ths) / ths < 0.05, `${r.hashrateThs} TH/s`);
    assert.equal(r.powerW, Math.round(site.model.powerW("read")));
    assert.equal(r.powerEstimated, false);
    assert.equal(r.powerLimitW, 3400);
    assert.equal(r.minPowerLimitW, 2000);
    assert.equal(r.maxPowerLimitW, 4000);
    assert.equal(r.boardTempsC.length, 4);
    assert.ok(r.chipTempMaxC !== null && r.chipTempMaxC > r.boardTempsC[0]!);
    assert.equal(r.fanRpm.length, 4);
    assert.deepEqual(r.pools, [
      { url: "stratum+tcp://pool.sim.invalid:3333", user: "wattkeeper.read", status: "Active" },
    ]);
    assert.equal(r.firmware, "proto 1.8.2");
    assert.equal(r.model, "Proto Rig");
    assert.equal(r.uptimeS, site.model.minerView("read").uptimeS);
  });

  test("sleep → stopped, draw falls; wake; power target; reboot — each confirmed by read-back", async () => {
    const m = minerFor("write");
    assert.deepEqual([...m.capabilities], ["sleep", "wake", "setPowerLimit", "reboot", "locate"]);
    const slept = await m.write("sleep");
    assert.equal(slept.ok, true, slept.reason ?? "");
    assert.equal(slept.after?.state, "sleeping");
    assert.equal(site.model.state("write"), "sleeping");
    assert.ok((slept.after?.powerW ?? 1e9) < 100, `${slept.after?.powerW} W asleep`);
    const woke = await m.write("wake");
    assert.equal(woke.ok, true, woke.reason ?? "");
    assert.notEqual(site.model.state("write"), "sleeping");
    const limited = await m.write("setPowerLimit", 2500);
    assert.equal(limited.ok, true, limited.reason ?? "");
    assert.equal(limited.after?.powerLimitW, 2500);
    assert.equal(site.model.minerView("write").powerLimitW, 2500);
    const before = (await m.read()).uptimeS!;
    const rebooted = await m.write("reboot");
    assert.equal(rebooted.ok, true, rebooted.reason ?? "");
    assert.ok(rebooted.after!.uptimeS! < before, `${rebooted.after?.uptimeS} s after, ${before} s before`);
  });

  test("a target outside the rig's range is refused before anything is sent", async () => {
    const m = minerFor("write");
    const calls = site.proto.stats("write").calls;
    const sentBefore = calls.length;
    const res = await m.write("setPowerLimit", 1200);
    assert.equal(res.ok, false);
    assert.equal(res.attempts, 1);
    assert.match(
      res.reason ?? "",
      /WK_PROTO_TARGET_OUT_OF_RANGE: power target 1200 W is outside .*2000–4000 W/,
    );
    assert.ok(
      !calls.slice(sentBefore).includes("PUT /api/v1/mining/target"),
      calls.slice(sentBefore).join(", "),
    );
  });

  test("a firmware that refuses a higher target: ok:false with the rig's words, not retried", async () => {
    const res = await minerFor("capped").write("setPowerLimit", 3500);
    assert.equal(res.ok, false);
    assert.equal(res.attempts, 1);
    assert.match(res.reason ?? "", /WK_PROTO_REFUSED: .*HTTP 422.*above 3000 W not accepted/);
    const ok = await minerFor("capped").write("setPowerLimit", 2800);
    assert.equal(ok.ok, true, ok.reason ?? "");
  });

  test("wrong password: WK_PROTO_AUTH, capabilities withdrawn, nothing retried", async () => {
    const m = minerFor("wrong");
    const r = await m.read();
    assert.equal(r.state, "faulted");
    assert.match(
      r.reason ?? "",
      /WK_PROTO_AUTH: login refused by the rig \(HTTP 401: Invalid credentials\).*wrong password/,
    );
    assert.equal(r.firmware, "proto 1.8.2", "the public system endpoint still names the firmware");
    await m.confirmed();
    assert.deepEqual([...m.capabilities], []);
    assert.match(m.withdrawn[0]?.reason ?? "", /WK_PROTO_AUTH/);
    const res = await createMiner(endpoint("wrong"), "proto", { confirm: CONFIRM }).write("sleep");
    assert.equal(res.ok, false);
    assert.equal(site.model.state("wrong"), "hashing");
  });

  test("no password: nothing declared, the reading says why", async () => {
    const d = new MinerDriver(protoDialect, endpoint("read", null));
    assert.deepEqual(d.describe().capabilities, []);
    const r = await d.read();
    assert.equal(r.state, "faulted");
    assert.match(r.reason ?? "", /WK_PROTO_NO_CREDENTIALS/);
    assert.equal(r.model, "Proto Rig");
  });

  test("the token is renewed before it expires; a revoked one logs in once more", async () => {
    const m = minerFor("ttl");
    const stats = site.proto.stats("ttl");
    assert.equal((await m.read()).state, "hashing");
    assert.equal(stats.logins, 1);
    assert.equal((await m.read()).state, "hashing");
    assert.equal(stats.logins, 1, "a live token is reused");
    aheadMs += 2100; // past the token's 2 s life on both clocks, without waiting it out
    assert.equal((await m.read()).state, "hashing");
    assert.equal(stats.logins, 2, "renewed ahead of its expiry");
    assert.equal(stats.unauthorized, 0, "never sent expired");
    site.proto.revokeTokens("ttl");
    const r = await m.read();
    assert.equal(r.state, "hashing", r.reason ?? "");
    assert.equal(stats.logins, 3);
    assert.ok(stats.unauthorized >= 1);
  });

  test("a rig that answers too slowly reads unreachable within the deadline", async () => {
    const m = minerFor("slow", undefined, { connectTimeoutMs: 200, readTimeoutMs: 300 });
    const t0 = Date.now();
    const r = await m.read();
    const took = Date.now() - t0;
    assert.equal(r.state, "unreachable");
    assert.match(r.reason ?? "", /WK_PROTO_TIMEOUT/);
    assert.ok(took < 1500, `${took} ms`);
  });

  test("drifted firmware: WK_FIRMWARE_CHANGED naming the version and what changed", async () => {
    const m = minerFor("drift");
    let r = await m.read();
    assert.equal(r.state, "faulted");
    assert.match(
      r.reason ?? "",
      /WK_FIRMWARE_CHANGED: firmware-changed: proto 1\.9\.0-sim: GET \/api\/v1\/mining reply changed shape: mining-status\.power_usage_watts: .*number/,
    );
    assert.equal(r.firmware, "proto 1.9.0-sim");
    site.proto.setQuirks("drift", { drift: "status-renamed" });
    r = await m.read();
    assert.match(r.reason ?? "", /WK_FIRMWARE_CHANGED: .*mining-status/);
    site.proto.setQuirks("drift", { drift: "auth-changed" });
    await m.close();
    const fresh = minerFor("drift");
    const res = await fresh.write("sleep");
    assert.equal(res.ok, false);
    assert.match(res.reason ?? "", /WK_FIRMWARE_CHANGED: .*auth\/login reply changed shape: access_token/);
    site.proto.setQuirks("drift", { drift: null });
  });

  test("HTTPS with a self-signed certificate, as a rig serves it", async () => {
    const r = await minerFor("tls").read();
    assert.equal(r.state, "hashing", r.reason ?? "");
    assert.equal(r.firmware, "proto 1.8.2");
  });

  test("dialect auto: a rig is detected as proto; a stock Antminer with a web server is not", async () => {
    const found = await detectDialect(endpoint("auto"), { connectTimeoutMs: 500, readTimeoutMs: 1000 });
    assert.equal(found.dialect, "proto");
    assert.match(found.evidence, /GET \/api\/v1\/system: .*Proto.*firmware 1\.8\.2/);
    const m = createMiner(endpoint("auto"), "auto", { confirm: CONFIRM });
    opened.push(m);
    assert.equal((await m.read()).state, "hashing");
    assert.equal(m.dialect, "proto");
    const web = site.antminerWeb!.endpoints.find((e) => e.id === "stock")!;
    const stock = await detectDialect(
      { host: STOCK_HOST, port: 4028, webPort: web.port },
      { connectTimeoutMs: 500, readTimeoutMs: 1000 },
    );
    assert.equal(stock.dialect, "antminer");
  });
});
