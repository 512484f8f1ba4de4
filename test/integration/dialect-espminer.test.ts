// The ESP-Miner / AxeOS dialect (drivers/cgminer/dialects/espminer/dialect.ts) against
// the simulated AxeOS units (sim/espminer) of a simulated site, over loopback
// (127.133.x): reads, pause/resume by version, restart, slow units, firmware
// drift, and `dialect: auto` telling AxeOS from stock bmminer.
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, test } from "node:test";
import { detectDialect } from "../../drivers/cgminer/detect.ts";
import { espminerDialect } from "../../drivers/cgminer/dialects/espminer/dialect.ts";
import { MinerDriver, type MinerEndpoint } from "../../drivers/cgminer/driver.ts";
import { createMiner } from "../../drivers/cgminer/miner.ts";
import { DriverError } from "../../drivers/types.ts";
import { type SimMinerSpec, type SimSite, startSimSite } from "../../sim/site.ts";

const H = {
  fresh: "127.133.0.1",
  old: "127.133.0.2",
  slow: "127.133.0.3",
  drift: "127.133.0.4",
  restart: "127.133.0.5",
  textRestart: "127.133.0.6",
  v20: "127.133.0.7",
  stock: "127.133.0.8",
  stockWeb: "127.133.0.9",
  pausedGone: "127.133.0.10",
  refusing: "127.133.0.11",
};
const CONFIRM = { confirmTimeoutMs: 6000, pollMs: 100 };

const axe = (id: string, host: string, espminer: SimMinerSpec["espminer"] = {}): SimMinerSpec => ({
  id,
  host,
  port: 4028,
  webPort: 0,
  dialect: "espminer",
  espminer,
});

/** One raw request to a sim unit: status, content type and body text. */
function raw(host: string, port: number, method: string, path: string) {
  return new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
    const req = http.request({ host, port, method, path, agent: false }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => {
        body += c.toString("utf8");
      });
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"] ?? ""), body }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

describe("ESP-Miner / AxeOS dialect", () => {
  let site: SimSite;
  const drivers: MinerDriver[] = [];
  const webPortOf = (id: string) => {
    const e = site.espminer.endpoints.find((x) => x.id === id);
    if (!e) throw new Error(`no AxeOS sim for ${id}`);
    return e.port;
  };
  const endpointOf = (id: string, host: string): MinerEndpoint => ({
    host,
    port: 4028,
    webPort: webPortOf(id),
  });
  const driverFor = (id: string, host: string, exchange = {}) => {
    const d = new MinerDriver(espminerDialect, endpointOf(id, host), { confirm: CONFIRM, exchange });
    drivers.push(d);
    return d;
  };

  before(async () => {
    site = await startSimSite({
      seed: 133,
      miners: [
        axe("fresh", H.fresh),
        axe("old", H.old, { version: "v2.13.2" }),
        axe("slow", H.slow, { replyDelayMs: 3000 }),
        axe("drift", H.drift, { drift: "hashrate-string" }),
        axe("restart", H.restart, { restartMs: 400 }),
        axe("text-restart", H.textRestart, { version: "v2.12.0", restartMs: 400 }),
        axe("v20", H.v20, { version: "v2.0.0", restartMs: 400 }),
        axe("paused-gone", H.pausedGone, { version: "v2.15.0", drift: "paused-gone" }),
        axe("refusing", H.refusing, { refuseClients: true }),
        { id: "stock", host: H.stock, port: 4028 },
        { id: "stock-web", host: H.stockWeb, port: 4028 },
      ],
      meters: [],
      antminerWeb: { port: 0 },
    });
  });
  after(async () => {
    await Promise.all(drivers.map((d) => d.close()));
    await site.stop();
  });

  test("the units have no CGMiner API: 4028 refuses", async () => {
    const r = await createMiner({ host: H.fresh, port: 4028 }, "cgminer").read();
    assert.equal(r.state, "unreachable");
    assert.match(r.reason ?? "", /REFUSED/);
  });

  test("reads: GH/s → TH/s, watts, temperatures, fan, pool, uptime, firmware and model", async () => {
    const r = await driverFor("fresh", H.fresh).read();
    assert.equal(r.state, "hashing", r.reason ?? "");
    const ths = site.model.hashrateThs("fresh");
    assert.ok(r.hashrateThs !== null && Math.abs(r.hashrateThs - ths) / ths < 0.05, `${r.hashrateThs} TH/s`);
    assert.ok(r.hashrateThs > 0.9 && r.hashrateThs < 1.3, "a Bitaxe is about 1 TH/s");
    assert.ok(r.powerW !== null && Math.abs(r.powerW - site.model.powerW("fresh")) < 0.1, `${r.powerW} W`);
    assert.ok(r.powerW < 40, "tens of watts");
    assert.equal(r.powerEstimated, false);
    assert.equal(r.powerLimitW, null);
    assert.ok(r.chipTempMaxC !== null && r.chipTempMaxC > 40, `chip ${r.chipTempMaxC}`);
    assert.equal(r.boardTempsC.length, 1);
    assert.equal(r.fanRpm.length, 1);
    assert.equal(r.pools[0]?.url, "stratum+tcp://pool.sim.invalid:3333");
    assert.equal(r.pools[0]?.user, "bc1qsim.fresh");
    assert.equal(r.pools[1]?.url, "stratum+tcp://solo.sim.invalid:3333");
    assert.ok(r.uptimeS !== null && r.uptimeS > 0);
    assert.equal(r.firmware, "axeos v2.14.0");
    assert.equal(r.model, "Bitaxe Gamma 601 (BM1370)");
  });

  test("v2.14: sleep (pause) confirmed by power falling, wake (resume) by hashing again", async () => {
    const d = driverFor("fresh", H.fresh);
    await d.read();
    await d.confirmed();
    assert.deepEqual(new Set(d.capabilities), new Set(["sleep", "wake", "reboot", "locate"]));
    assert.deepEqual(d.withdrawn, []);
    const slept = await d.sleep();
    assert.equal(slept.ok, true, slept.reason ?? "");
    assert.equal(slept.after?.state, "sleeping");
    assert.ok(
      slept.before?.powerW && slept.after?.powerW !== null && slept.after!.powerW! < slept.before.powerW / 2,
    );
    assert.equal(site.model.state("fresh"), "sleeping");
    assert.equal(site.espminer.stats("fresh").pauses, 1);
    const woke = await d.wake();
    assert.equal(woke.ok, true, woke.reason ?? "");
    assert.equal(site.model.state("fresh"), "hashing");
    assert.equal(site.espminer.stats("fresh").resumes, 1);
  });

  test("before v2.14: sleep/wake not declared, with the reason; a sleep is refused without sending", async () => {
    const d = driverFor("old", H.old);
    const r = await d.read();
    assert.equal(r.firmware, "axeos v2.13.2");
    await d.confirmed();
    // identify (the locate) came with v2.12: still there
    assert.deepEqual([...d.capabilities], ["reboot", "locate"]);
    const why = d.withdrawn.find((w) => w.capability === "sleep")?.reason ?? "";
    assert.match(why, /v2\.13\.2 has no \/api\/system\/pause.*v2\.14\.0/);
    assert.ok(!d.capabilities.has("setPowerLimit"));
    const out = await d.sleep();
    assert.equal(out.ok, false);
    assert.equal(out.attempts, 0);
    assert.match(out.reason ?? "", /not offered by this miner: .*v2\.14\.0/);
    assert.equal(site.espminer.stats("old").pauses, 0);
    assert.equal(site.model.state("old"), "hashing");
    // the firmware itself has no such route: 404 {"error":"unknown route"}
    const direct = await raw(H.old, webPortOf("old"), "POST", "/api/system/pause");
    assert.equal(direct.status, 404);
    assert.deepEqual(JSON.parse(direct.body), { error: "unknown route" });
    // the dialect, sent it without knowing the version, says the route is missing
    const ep = endpointOf("old", H.old);
    await espminerDialect.close?.({ endpoint: ep, exchange: {}, now: Date.now });
    await assert.rejects(
      espminerDialect.write({ endpoint: ep, exchange: {}, now: Date.now }, "sleep"),
      (err: unknown) =>
        err instanceof DriverError && err.code === "WK_ESPMINER_UNSUPPORTED" && !err.retryable,
    );
  });

  test("setPowerLimit is not offered (no watt target in AxeOS)", async () => {
    const out = await driverFor("fresh", H.fresh).setPowerLimit(15);
    assert.equal(out.ok, false);
    assert.match(out.reason ?? "", /espminer dialect cannot setPowerLimit/);
  });

  for (const [id, host, label] of [
    ["restart", H.restart, "v2.14 (JSON reply)"],
    ["text-restart", H.textRestart, "v2.12 (text reply)"],
    ["v20", H.v20, "v2.0 (no reply)"],
  ] as const) {
    test(`reboot (restart) ${label} confirmed by uptime starting again`, async () => {
      const d = driverFor(id, host);
      const before = await d.read();
      assert.ok(before.uptimeS !== null && before.uptimeS > 60);
      const out = await d.reboot();
      assert.equal(out.ok, true, out.reason ?? "");
      assert.ok(out.after?.uptimeS !== null && out.after!.uptimeS! < before.uptimeS!);
      assert.equal(site.espminer.stats(id).restarts, 1);
    });
  }

  test("a unit slower than the deadline reads unreachable within it", async () => {
    const d = driverFor("slow", H.slow, { readTimeoutMs: 400 });
    const t0 = Date.now();
    const r = await d.read();
    const ms = Date.now() - t0;
    assert.equal(r.state, "unreachable");
    assert.match(
      r.reason ?? "",
      /^WK_ESPMINER_TIMEOUT: GET http:\/\/127\.133\.0\.3:\d+\/api\/system\/info: no reply within 400 ms/,
    );
    assert.ok(ms < 1000, `${ms} ms`);
    // with a deadline longer than the unit's delay it reads
    const patient = driverFor("slow", H.slow, { readTimeoutMs: 5000 });
    assert.equal((await patient.read()).state, "hashing");
  });

  test("a field whose type changed: WK_FIRMWARE_CHANGED naming firmware, version and field; writes withdrawn", async () => {
    const d = driverFor("drift", H.drift);
    const r = await d.read();
    assert.equal(r.state, "faulted");
    assert.match(
      r.reason ?? "",
      /^WK_FIRMWARE_CHANGED: axeos v2\.14\.0: \/api\/system\/info: hashRate is now string "[0-9.]+ GH\/s" \(was number\)/,
    );
    await d.confirmed();
    assert.deepEqual([...d.capabilities], []);
    assert.match(d.withdrawn[0]?.reason ?? "", /WK_FIRMWARE_CHANGED/);
    // back to the documented shape (a firmware fixed): reads again
    site.espminer.configure("drift", { drift: null });
    assert.equal((await d.read()).state, "hashing");
  });

  test("a v2.14+ unit without miningPaused is a changed firmware, not a guess", async () => {
    const r = await driverFor("paused-gone", H.pausedGone).read();
    assert.equal(r.state, "faulted");
    assert.match(r.reason ?? "", /^WK_FIRMWARE_CHANGED: axeos v2\.15\.0: .*miningPaused is gone/);
  });

  test("a unit that refuses our address (not a private network) says so; its writes are withdrawn", async () => {
    const d = driverFor("refusing", H.refusing);
    const r = await d.read();
    assert.equal(r.state, "faulted");
    assert.match(
      r.reason ?? "",
      /^WK_ESPMINER_FORBIDDEN: GET \/api\/system\/info: AxeOS answers 401: .*private networks/,
    );
    await d.confirmed();
    assert.deepEqual([...d.capabilities], []);
    const out = await d.reboot();
    assert.equal(out.ok, false);
    assert.match(out.reason ?? "", /not offered by this miner: WK_ESPMINER_FORBIDDEN/);
    assert.equal(site.espminer.stats("refusing").restarts, 0);
  });

  test("dialect: auto picks espminer for AxeOS, antminer for stock bmminer (web CGI or none)", async () => {
    const found = await detectDialect(endpointOf("fresh", H.fresh));
    assert.equal(found.dialect, "espminer");
    assert.match(found.evidence, /AxeOS v2\.14\.0 \(BM1370\)/);
    const web = site.antminerWeb!.endpoints.find((e) => e.id === "stock-web")!;
    const stockWeb = await detectDialect({ host: H.stockWeb, port: 4028, webPort: web.port });
    assert.equal(stockWeb.dialect, "antminer");
    // no web server at all behind the stock one (its port refuses)
    const bare = await detectDialect({ host: H.stock, port: 4028, webPort: 9 });
    assert.equal(bare.dialect, "antminer");
    const miner = createMiner(endpointOf("fresh", H.fresh), "auto", { confirm: CONFIRM });
    const r = await miner.read();
    assert.equal(miner.dialect, "espminer");
    assert.equal(r.firmware, "axeos v2.14.0");
    await miner.close();
  });

  test("first contact asks the info once (probe, first read, capability check); later reads and read-backs ask again", async () => {
    const infos = () => site.espminer.stats("fresh").infos;
    const before = infos();
    const miner = createMiner(endpointOf("fresh", H.fresh), "auto", { confirm: CONFIRM });
    const first = await miner.read();
    await miner.confirmed();
    assert.equal(first.state, "hashing");
    assert.ok(miner.capabilities.has("sleep"));
    assert.equal(infos() - before, 1);
    await miner.read();
    assert.equal(infos() - before, 2);
    // a write's read-back is never a reply from before the command
    const slept = await miner.write("sleep");
    assert.equal(slept.ok, true, slept.reason ?? "");
    assert.equal(slept.after?.state, "sleeping");
    const woke = await miner.write("wake");
    assert.equal(woke.ok, true, woke.reason ?? "");
    await miner.close();
  });

  test("sim speaks the versions' wire formats: v2.0 fanSpeed without boardVersion, bestDiff string → number, PATCH types checked", async () => {
    const v20 = site.espminer.info("v20");
    assert.equal(v20.boardVersion, undefined);
    assert.equal(typeof v20.fanSpeed, "number");
    assert.equal(typeof v20.bestDiff, "string");
    const v214 = site.espminer.info("fresh");
    assert.equal(typeof v214.bestDiff, "number");
    assert.equal(typeof v214.miningPaused, "boolean");
    const patch = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        { host: H.fresh, port: webPortOf("fresh"), method: "PATCH", path: "/api/system", agent: false },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        },
      );
      req.on("error", reject);
      req.end(JSON.stringify({ frequency: "fast" }));
    });
    assert.equal(patch, 400);
  });
});
