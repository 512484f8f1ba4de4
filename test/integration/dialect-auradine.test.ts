// The Auradine FluxOS dialect (drivers/cgminer/dialects/auradine/dialect.ts) against the
// simulated unit: GCMiner on 4028 (sim/cgminer/dialects/auradine.ts) and the
// FluxOS web API on 8080 (sim/auradine), started through the sim site, over
// loopback (127.132.x).
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, test } from "node:test";
import { detectDialect } from "../../drivers/cgminer/detect.ts";
import { auradineDialect } from "../../drivers/cgminer/dialects/auradine/dialect.ts";
import type { MinerCredentials, MinerEndpoint } from "../../drivers/cgminer/driver.ts";
import { encodeRequest, exchange } from "../../drivers/cgminer/framing.ts";
import { createMiner, type Miner } from "../../drivers/cgminer/miner.ts";
import type { AuradineSiteSpec } from "../../sim/auradine/server.ts";
import { type AuradineSim, startAuradineSim } from "../../sim/auradine/server.ts";
import type { PowerModel } from "../../sim/power-model.ts";
import { type SimSite, startSimSite } from "../../sim/site.ts";

const CONFIRM = { confirmTimeoutMs: 3000, pollMs: 100 };
/** One host per scenario: tokens are cached per host:port:user across the process. */
const UNITS: Record<string, { host: string; auradine?: AuradineSiteSpec }> = {
  read: { host: "127.132.0.1" },
  sleep: { host: "127.132.0.2" },
  limit: { host: "127.132.0.3" },
  refuse: { host: "127.132.0.4", auradine: { refuseTargetAboveW: 3000 } },
  reboot: { host: "127.132.0.5" },
  creds: { host: "127.132.0.6", auradine: { username: "root", password: "s3cret" } },
  expiry: { host: "127.132.0.7", auradine: { tokenTtlMs: 250 } },
  slow: { host: "127.132.0.8", auradine: { replyDelayMs: 3000 } },
  drift: { host: "127.132.0.9", auradine: { shape: "drifted" } },
  older: { host: "127.132.0.10", auradine: { shape: "older", version: "2023-05.24" } },
  norange: { host: "127.132.0.11", auradine: { maxPowerW: null } },
  auto: { host: "127.132.0.12" },
};
const STOCK_HOST = "127.132.1.1";

describe("Auradine FluxOS dialect", () => {
  let site: SimSite;
  /** How far the sim's clock runs ahead of the wall clock: a token expires there without a wait. */
  let simAheadMs = 0;
  let model: PowerModel;
  const miners: Miner[] = [];
  const minerFor = (
    name: keyof typeof UNITS,
    opts: { credentials?: MinerCredentials; dialect?: "auradine" | "auto"; exchange?: object } = {},
  ) => {
    const endpoint: MinerEndpoint = { host: UNITS[name]!.host, port: 4028, credentials: opts.credentials };
    const m = createMiner(endpoint, opts.dialect ?? "auradine", {
      confirm: CONFIRM,
      exchange: opts.exchange,
    });
    miners.push(m);
    return m;
  };
  const webStats = (name: string) => site.auradine.stats(name);

  before(async () => {
    site = await startSimSite({
      now: () => Date.now() + simAheadMs,
      seed: 132,
      models: ["antminer-s21"],
      miners: [
        ...Object.entries(UNITS).map(([id, u]) => ({
          id,
          host: u.host,
          port: 4028,
          dialect: "auradine",
          auradine: u.auradine,
        })),
        { id: "stock", host: STOCK_HOST, port: 4028 },
      ],
      meters: [],
    });
    model = site.model;
  });
  after(async () => {
    await Promise.all(miners.map((m) => m.close()));
    await site.stop();
  });

  test("the GCMiner API on 4028 carries the marker dialect detection uses", async () => {
    const raw = (await exchange({ host: UNITS.read!.host, port: 4028 }, encodeRequest("version"))).toString(
      "utf8",
    );
    assert.match(raw, /"GCMiner":"2024-06\.11"/);
    assert.deepEqual(
      site.auradine.endpoints.find((e) => e.id === "read"),
      { id: "read", host: UNITS.read!.host, port: 8080 },
    );
  });

  test("reads: hashrate and uptime from 4028, watts, range, fans, temperatures, model from the web API", async () => {
    const m = minerFor("read");
    const r = await m.read();
    assert.equal(r.state, "hashing", r.reason ?? "");
    const ths = model.hashrateThs("read");
    assert.ok(r.hashrateThs !== null && Math.abs(r.hashrateThs - ths) / ths < 0.05, `${r.hashrateThs} TH/s`);
    assert.ok(r.powerW !== null && Math.abs(r.powerW - model.powerW("read")) < 0.01, `${r.powerW} W`);
    assert.equal(r.powerEstimated, false);
    assert.equal(r.powerLimitW, null);
    assert.equal(r.minPowerLimitW, null);
    assert.equal(r.maxPowerLimitW, Math.round(3500 * 1.1));
    assert.equal(r.boardTempsC.length, 3);
    assert.ok(r.chipTempMaxC !== null && r.chipTempMaxC > Math.max(...r.boardTempsC));
    assert.equal(r.fanRpm.length, 4);
    assert.equal(r.pools.length, 2);
    assert.equal(r.pools[0]!.status, "Alive");
    assert.ok(r.uptimeS !== null && r.uptimeS > 0);
    assert.equal(r.firmware, "fluxos 2024-06.11");
    assert.equal(r.model, "AT2880");
    assert.deepEqual(
      new Set(m.capabilities),
      new Set(["sleep", "wake", "setPowerLimit", "reboot", "locate"]),
    );
    await m.confirmed();
    assert.deepEqual(m.withdrawn, []);
    assert.equal(webStats("read").logins, 1, "one login shared by the concurrent requests");
  });

  test("sleep → sleeping and the draw falls; wake → hashing (confirmed by read-back)", async () => {
    const m = minerFor("sleep");
    const before = model.powerW("sleep");
    const slept = await m.write("sleep");
    assert.equal(slept.ok, true, slept.reason ?? "");
    assert.equal(slept.after?.state, "sleeping");
    assert.equal(slept.after?.reason, "sleep mode on");
    assert.equal(model.state("sleep"), "sleeping");
    assert.ok(model.powerW("sleep") < before * 0.1);
    assert.deepEqual(webStats("sleep").writes[0], { path: "/mode", body: { command: "mode", sleep: "on" } });
    const woke = await m.write("wake");
    assert.equal(woke.ok, true, woke.reason ?? "");
    assert.equal(model.state("sleep"), "hashing");
    assert.deepEqual(webStats("sleep").writes[1]!.body, { command: "mode", sleep: "off" });
  });

  test("setPowerLimit: a custom power target, read back from /mode; above PoutMax refused before sending", async () => {
    const m = minerFor("limit");
    const set = await m.write("setPowerLimit", 2500);
    assert.equal(set.ok, true, set.reason ?? "");
    assert.equal(set.after?.powerLimitW, 2500);
    assert.equal(model.minerView("limit").powerLimitW, 2500);
    assert.ok(model.powerW("limit") <= 2500);
    assert.deepEqual(webStats("limit").writes.at(-1)!.body, {
      command: "mode",
      mode: "custom",
      tune: "power",
      power: 2500,
    });
    const sent = webStats("limit").writes.length;
    const high = await m.write("setPowerLimit", 5000);
    assert.equal(high.ok, false);
    assert.equal(high.attempts, 1);
    assert.match(high.reason ?? "", /WK_AURADINE_OUT_OF_RANGE: 5000 W is above the unit's maximum of 3850 W/);
    assert.equal(webStats("limit").writes.length, sent, "nothing sent");
    assert.equal(model.minerView("limit").powerLimitW, 2500);
  });

  test("a unit refusing targets above a wattage: ok:false with the unit's words, once", async () => {
    const m = minerFor("refuse");
    const low = await m.write("setPowerLimit", 2800);
    assert.equal(low.ok, true, low.reason ?? "");
    const res = await m.write("setPowerLimit", 3300);
    assert.equal(res.ok, false);
    assert.equal(res.attempts, 1);
    assert.match(
      res.reason ?? "",
      /WK_AURADINE_REFUSED: POST \/mode refused: Power target 3300 W refused: above 3000 W/,
    );
    assert.equal(model.minerView("refuse").powerLimitW, 2800);
  });

  test("reboot → uptime starts again; the tokens the reboot dropped are replaced by one new login", async () => {
    const m = minerFor("reboot");
    const before = await m.read();
    assert.equal(before.state, "hashing");
    const res = await m.write("reboot", undefined, { before });
    assert.equal(res.ok, true, res.reason ?? "");
    assert.ok(res.after!.uptimeS! < before.uptimeS!, `${res.after?.uptimeS} < ${before.uptimeS}`);
    assert.deepEqual(webStats("reboot").writes.at(-1), { path: "/restart", body: { command: "restart" } });
    assert.equal(webStats("reboot").logins, 2);
  });

  test("wrong credentials: WK_AURADINE_AUTH, every write withdrawn with why, nothing sent", async () => {
    const m = minerFor("creds", { credentials: { username: "root", password: "wrong" } });
    const r = await m.read();
    assert.equal(r.state, "faulted");
    assert.match(
      r.reason ?? "",
      /^WK_AURADINE_AUTH: FluxOS login refused for user "root" \(HTTP 401: Invalid user or password\)/,
    );
    await m.confirmed();
    assert.equal(m.capabilities.size, 0);
    assert.match(m.withdrawn[0]!.reason, /the FluxOS web API \(port 8080\) refuses the login/);
    const res = await m.write("sleep");
    assert.equal(res.ok, false);
    assert.equal(res.attempts, 0);
    assert.match(res.reason ?? "", /sleep not offered by this miner: the FluxOS web API/);
    assert.equal(model.state("creds"), "hashing");
    assert.equal(webStats("creds").writes.length, 0);
    // the right ones work
    const good = minerFor("creds", { credentials: { username: "root", password: "s3cret" } });
    assert.equal((await good.read()).state, "hashing");
  });

  test("an expired token is replaced by one new login and the read goes on", async () => {
    const m = minerFor("expiry");
    assert.equal((await m.read()).state, "hashing");
    assert.equal(webStats("expiry").logins, 1);
    simAheadMs += 350; // past the sim's token life, without waiting it out
    const r = await m.read();
    assert.equal(r.state, "hashing", r.reason ?? "");
    assert.equal(webStats("expiry").logins, 2);
    assert.ok(webStats("expiry").unauthorized >= 1);
    site.auradine.expireTokens("expiry");
    const res = await m.write("sleep");
    assert.equal(res.ok, true, res.reason ?? "");
    assert.equal(webStats("expiry").logins, 3);
  });

  test("a web API answering too late reads unreachable within the deadline", async () => {
    const m = minerFor("slow", { exchange: { connectTimeoutMs: 200, readTimeoutMs: 400 } });
    const t0 = Date.now();
    const r = await m.read();
    const took = Date.now() - t0;
    assert.equal(r.state, "unreachable");
    assert.match(
      r.reason ?? "",
      /^WK_AURADINE_TIMEOUT: POST http:\/\/127\.132\.0\.8:8080\/token: no reply within 600 ms/,
    );
    assert.ok(took < 1200, `took ${took} ms`);
  });

  test("drifted firmware: WK_FIRMWARE_CHANGED naming firmware, version and field; writes withdrawn", async () => {
    const m = minerFor("drift");
    const r = await m.read();
    assert.equal(r.state, "faulted");
    assert.match(
      r.reason ?? "",
      /^WK_FIRMWARE_CHANGED: FluxOS 2024-06\.11: GET \/(mode|psu): reply shape changed \((Mode\.0\.Sleep|PSU\.0\.PowerIn): /,
    );
    await m.confirmed();
    assert.equal(m.capabilities.size, 0);
    assert.match(m.withdrawn[0]!.reason, /answers in a shape the dialect does not know: WK_FIRMWARE_CHANGED/);
    assert.equal(model.state("drift"), "hashing");
  });

  test("the older field types (Sleep a boolean, PowerIn a number) are a documented variant: read as usual", async () => {
    const m = minerFor("older");
    const r = await m.read();
    assert.equal(r.state, "hashing", r.reason ?? "");
    assert.equal(r.powerW, model.powerW("older"));
    assert.equal(r.firmware, "fluxos 2023-05.24");
    site.sleepMiner("older");
    const asleep = await m.read();
    assert.equal(asleep.state, "sleeping");
    assert.equal(asleep.reason, "sleep mode on");
  });

  test("no PoutMax: setPowerLimit withdrawn at first contact, nothing sent", async () => {
    const m = minerFor("norange");
    const r = await m.read();
    assert.equal(r.maxPowerLimitW, null);
    await m.confirmed();
    assert.deepEqual(new Set(m.capabilities), new Set(["sleep", "wake", "reboot", "locate"]));
    const res = await m.write("setPowerLimit", 2000);
    assert.equal(res.ok, false);
    assert.equal(res.attempts, 0);
    assert.match(
      res.reason ?? "",
      /setPowerLimit not offered by this miner: the unit reports no power range/,
    );
    assert.equal(webStats("norange").writes.length, 0);
  });

  test("dialect auto: auradine for the FluxOS unit, antminer for a stock (bmminer) one", async () => {
    const a = minerFor("auto", { dialect: "auto" });
    const r = await a.read();
    assert.equal(a.dialect, "auradine");
    assert.equal(r.state, "hashing", r.reason ?? "");
    assert.equal(r.firmware, "fluxos 2024-06.11");
    const stock = createMiner({ host: STOCK_HOST, port: 4028 }, "auto");
    miners.push(stock);
    await stock.read();
    assert.equal(stock.dialect, "antminer");
  });
});

describe("Auradine HTTP probe (read-only)", () => {
  let model: PowerModel;
  let sim: AuradineSim;
  let other: http.Server;
  const WEB_ONLY = "127.132.2.1";
  const OTHER = "127.132.2.2";

  before(async () => {
    const { PowerModel } = await import("../../sim/power-model.ts");
    model = new PowerModel({ seed: 133 });
    sim = await startAuradineSim({ model, miners: [{ id: "web", host: WEB_ONLY, port: 8080 }] });
    other = http.createServer((_req, res) => {
      res.writeHead(200, { "Content-Type": "text/html" });
      res.end("<html><title>Miner</title></html>");
    });
    await new Promise<void>((resolve) => other.listen(8080, OTHER, resolve));
  });
  after(async () => {
    await sim.stop();
    await new Promise<void>((resolve) => other.close(() => resolve()));
  });

  const ctx = (host: string) => ({
    endpoint: { host, port: 4028 },
    exchange: { connectTimeoutMs: 500, readTimeoutMs: 500 },
    now: Date.now,
  });

  test("recognises FluxOS from its answer to a request without a token; sends no login", async () => {
    const evidence = await auradineDialect.detectProbe!.probe(ctx(WEB_ONLY));
    assert.equal(evidence, "GET :8080/ipreport: FluxOS-2024-06.11 (HTTP 401)");
    assert.equal(sim.stats("web").logins, 0);
    assert.equal(sim.stats("web").writes.length, 0);
  });

  test("null for another web server; throws only when nothing answers", async () => {
    assert.equal(await auradineDialect.detectProbe!.probe(ctx(OTHER)), null);
    await assert.rejects(auradineDialect.detectProbe!.probe(ctx("127.132.2.3")), {
      code: "WK_AURADINE_REFUSED",
    });
  });

  test("detection falls back to the probe when 4028 does not answer", async () => {
    const d = await detectDialect(
      { host: WEB_ONLY, port: 4028 },
      { connectTimeoutMs: 500, readTimeoutMs: 500 },
    );
    assert.equal(d.dialect, "auradine");
    assert.match(d.evidence, /FluxOS-2024-06\.11/);
  });
});
