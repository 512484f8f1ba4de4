// The VNish dialect (drivers/cgminer/dialects/vnish/dialect.ts) against the simulated
// VNish web API (sim/vnish) and its read-only CGMiner API, in a simulated site
// on loopback (127.130.x), web API on port 80 as on real units.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { detectDialect } from "../../drivers/cgminer/detect.ts";
import { vnishDialect } from "../../drivers/cgminer/dialects/vnish/dialect.ts";
import { MinerDriver, type MinerEndpoint } from "../../drivers/cgminer/driver.ts";
import { encodeRequest, exchange } from "../../drivers/cgminer/framing.ts";
import { createMiner, type Miner } from "../../drivers/cgminer/miner.ts";
import type { MinerCapability } from "../../drivers/types.ts";
import { type SimSite, startSimSite } from "../../sim/site.ts";
import type { VnishSiteSpec } from "../../sim/vnish/server.ts";

const CONFIRM = { confirmTimeoutMs: 3000, pollMs: 100 };
/** This file's loopback block: 127.130.0.1 upwards. */
const host = (n: number) => `127.130.0.${n}`;
const ADMIN = { username: null, password: "admin" };

/** The VNish units of the site, by id: host number and sim quirks. */
const UNITS: Record<string, [number, VnishSiteSpec?]> = {
  read: [1],
  control: [2],
  badpw: [3, { password: "s3cret" }],
  expiry: [4, { tokenTtlMs: 300 }],
  slow: [5, { replyDelayMs: 3000 }],
  drift: [6, { version: "1.1.9", numbersAsStrings: true }],
  variant: [7, { powerField: "power_usage", presetsWrapped: true }],
  nopresets: [8, { presets: false }],
  refuse: [9, { refuseTargetAboveW: 2400 }],
  auto: [10],
  stopped: [11],
};
const STOCK = host(20);

describe("VNish dialect", () => {
  let site: SimSite;
  /** How far the sim's clock runs ahead of the wall clock: a token expires there without a wait. */
  let simAheadMs = 0;
  const opened: Array<MinerDriver | Miner> = [];
  const ep = (id: string, credentials: MinerEndpoint["credentials"] = ADMIN): MinerEndpoint => ({
    host: host(UNITS[id]![0]),
    port: 4028,
    webPort: 80,
    credentials,
  });
  const driver = (id: string, credentials?: MinerEndpoint["credentials"], exchangeOpts = {}) => {
    const d = new MinerDriver(vnishDialect, ep(id, credentials), {
      confirm: CONFIRM,
      exchange: exchangeOpts,
    });
    opened.push(d);
    return d;
  };

  before(async () => {
    site = await startSimSite({
      now: () => Date.now() + simAheadMs,
      seed: 130,
      models: ["antminer-s19-xp"],
      miners: [
        ...Object.entries(UNITS).map(([id, [n, vnish]]) => ({
          id,
          host: host(n),
          port: 4028,
          dialect: "vnish",
          webPort: 80,
          vnish,
        })),
        { id: "stock", host: STOCK, port: 4028 },
      ],
      meters: [],
      antminerWeb: { port: 80 },
    });
  });
  after(async () => {
    await Promise.all(opened.map((d) => d.close()));
    await site.stop();
  });

  test("reads everything over the web API: hashrate, watts, presets, temps, fans, pools, uptime", async () => {
    const r = await driver("read").read();
    assert.equal(r.state, "hashing", r.reason ?? "");
    const ths = site.model.hashrateThs("read");
    assert.ok(r.hashrateThs !== null && Math.abs(r.hashrateThs - ths) / ths < 0.05, `${r.hashrateThs} TH/s`);
    assert.equal(r.powerW, Math.round(site.model.powerW("read")));
    assert.equal(r.powerEstimated, false);
    assert.equal(r.powerLimitW, null, "preset disabled: no limit in force");
    assert.equal(r.minPowerLimitW, 1660);
    assert.equal(r.maxPowerLimitW, 3160, "the preset needing a modded PSU is not a step");
    assert.deepEqual(r.powerLimitStepsW, [1660, 1960, 2260, 2560, 2860, 3160]);
    assert.equal(r.boardTempsC.length, 3);
    assert.ok(r.chipTempMaxC !== null && r.chipTempMaxC > Math.max(...r.boardTempsC));
    assert.equal(r.fanRpm.length, 4);
    assert.deepEqual(r.pools, [
      { url: "stratum+tcp://pool.sim.invalid:3333", user: "wattkeeper.read", status: "Alive" },
    ]);
    const up = site.model.minerView("read").uptimeS;
    assert.ok(
      r.uptimeS !== null && up - r.uptimeS >= 0 && up - r.uptimeS < 60,
      `uptime ${r.uptimeS} vs ${up}`,
    );
    assert.equal(r.firmware, "vnish 1.2.6");
    assert.equal(r.model, "Antminer S19 XP");
  });

  test("without a password: reads with the factory password, no writes declared", async () => {
    const d = driver("read", null);
    assert.deepEqual([...d.capabilities], []);
    const r = await d.read();
    assert.equal(r.state, "hashing", r.reason ?? "");
    const out = await d.sleep();
    assert.equal(out.ok, false);
    assert.match(out.reason ?? "", /no credentials configured/);
  });

  test("the 4028 API is there too, read-only, naming VNish in the model type", async () => {
    const raw = (await exchange({ host: host(1), port: 4028 }, encodeRequest("version"))).toString("utf8");
    assert.match(raw, /\(Vnish 1\.2\.6\)/);
  });

  test("sleep, setPowerLimit, wake and reboot through createMiner, each confirmed by read-back", async () => {
    const m = createMiner(ep("control"), "vnish", { confirm: CONFIRM });
    opened.push(m);
    assert.deepEqual(
      new Set(m.capabilities),
      new Set<MinerCapability>(["sleep", "wake", "setPowerLimit", "reboot", "locate"]),
    );
    const before = await m.read();
    await m.confirmed();
    assert.equal(m.withdrawn.length, 0, JSON.stringify(m.withdrawn));

    const slept = await m.write("sleep");
    assert.equal(slept.ok, true, slept.reason ?? "");
    assert.equal(slept.after?.state, "sleeping");
    assert.ok(slept.after!.powerW! < before.powerW! * 0.1, `draw ${slept.after?.powerW} W`);
    assert.equal(site.model.state("control"), "sleeping");
    assert.deepEqual(site.vnish.stats("control").posts.slice(-1), ["/api/v1/mining/pause"]);

    const woke = await m.write("wake");
    assert.equal(woke.ok, true, woke.reason ?? "");
    assert.equal(site.model.state("control"), "hashing");
    assert.deepEqual(site.vnish.stats("control").posts.slice(-1), ["/api/v1/mining/resume"]);

    // 2700 W lies between the 2560 and 2860 W presets: it lands on 2560
    const limited = await m.write("setPowerLimit", 2700);
    assert.equal(limited.ok, true, limited.reason ?? "");
    assert.equal(site.vnish.preset("control"), "2560");
    assert.equal(limited.after?.powerLimitW, 2560);
    assert.ok(site.model.powerW("control") <= 2560);

    const below = await m.write("setPowerLimit", 1000);
    assert.equal(below.ok, false);
    assert.match(
      below.reason ?? "",
      /WK_VNISH_TARGET_TOO_LOW: no preset at or below 1000 W \(lowest is 1660 W\)/,
    );
    assert.equal(below.attempts, 1, "not retried");

    const uptime = (await m.read()).uptimeS!;
    const rebooted = await m.write("reboot");
    assert.equal(rebooted.ok, true, rebooted.reason ?? "");
    assert.ok(rebooted.after!.uptimeS! < uptime);
    assert.equal(site.vnish.preset("control"), "2560", "the preset survives the reboot");
  });

  test("wake of a unit stopped by someone else (mining/stop) sends mining/start", async () => {
    const d = driver("stopped");
    const r = await fetchJson(host(11), "/api/v1/unlock", { pw: "admin" });
    await fetchJson(host(11), "/api/v1/mining/stop", undefined, String(r.token));
    const asleep = await d.read();
    assert.equal(asleep.state, "sleeping");
    assert.match(asleep.reason ?? "", /miner_state stopped/);
    const woke = await d.wake();
    assert.equal(woke.ok, true, woke.reason ?? "");
    assert.deepEqual(site.vnish.stats("stopped").posts.slice(-1), ["/api/v1/mining/start"]);
  });

  test("a wrong password: WK_VNISH_AUTH, writes withdrawn, never retried", async () => {
    const d = driver("badpw", { username: null, password: "wrong" });
    const r = await d.read();
    assert.equal(r.state, "faulted");
    assert.match(r.reason ?? "", /^WK_VNISH_AUTH: .*refused the configured password/);
    await d.confirmed();
    const out = await d.sleep();
    assert.equal(out.ok, false);
    assert.equal(out.attempts, 0);
    assert.match(out.reason ?? "", /not offered by this miner: WK_VNISH_AUTH/);
    assert.ok(
      site.vnish.stats("badpw").refusedLogins <= 2,
      `${site.vnish.stats("badpw").refusedLogins} refused logins`,
    );
    assert.equal(site.model.state("badpw"), "hashing");
  });

  test("an expired token: one fresh login, the read goes on", async () => {
    const d = driver("expiry");
    assert.equal((await d.read()).state, "hashing");
    const logins = site.vnish.stats("expiry").logins;
    simAheadMs += 400; // past the sim's 300 ms token life, without waiting it out
    const r = await d.read();
    assert.equal(r.state, "hashing", r.reason ?? "");
    assert.equal(site.vnish.stats("expiry").logins, logins + 1);
    assert.ok(site.vnish.stats("expiry").unauthorized >= 1);
  });

  test("a slow web API: unreachable within the deadline", async () => {
    const d = driver("slow", ADMIN, { connectTimeoutMs: 300, readTimeoutMs: 400 });
    const t0 = Date.now();
    const r = await d.read();
    const tookMs = Date.now() - t0;
    assert.equal(r.state, "unreachable");
    assert.match(r.reason ?? "", /^WK_VNISH_TIMEOUT: .*no reply within 700 ms/);
    // the login and the summary behind it: two deadlines at most
    assert.ok(tookMs < 1600, `${tookMs} ms`);
  });

  test("a firmware whose numbers turned to strings: WK_FIRMWARE_CHANGED naming version and field", async () => {
    const r = await driver("drift").read();
    assert.equal(r.state, "faulted");
    assert.match(
      r.reason ?? "",
      /^WK_FIRMWARE_CHANGED: vnish 1\.1\.9: \/api\/v1\/summary miner\.[a-z_.0-9]+: expected number, got string "/,
    );
    assert.equal(r.firmware, "vnish 1.1.9");
  });

  test("documented variants read the same: power_usage only, presets wrapped in {presets}", async () => {
    const r = await driver("variant").read();
    assert.equal(r.state, "hashing", r.reason ?? "");
    assert.equal(r.powerW, Math.round(site.model.powerW("variant")));
    assert.equal(r.maxPowerLimitW, 3160);
  });

  test("a unit without wattage presets: setPowerLimit withdrawn at first contact, with the reason", async () => {
    const d = driver("nopresets");
    const r = await d.read();
    assert.equal(r.minPowerLimitW, null);
    await d.confirmed();
    assert.deepEqual(
      new Set(d.capabilities),
      new Set<MinerCapability>(["sleep", "wake", "reboot", "locate"]),
    );
    assert.match(d.withdrawn[0]?.reason ?? "", /lists no autotune presets with a wattage/);
  });

  test("a preset the firmware silently ignores: WK_VNISH_PRESET_IGNORED, not retried", async () => {
    const d = driver("refuse");
    const ok = await d.setPowerLimit(2300);
    assert.equal(ok.ok, true, ok.reason ?? "");
    const out = await d.setPowerLimit(2900);
    assert.equal(out.ok, false);
    assert.equal(out.attempts, 1);
    assert.match(
      out.reason ?? "",
      /WK_VNISH_PRESET_IGNORED: vnish 1\.2\.6 .*kept preset "2260" \(asked "2860"/,
    );
  });

  test("dialect auto: a VNish unit is found by its web API, a stock miner is not", async () => {
    const found = await detectDialect(ep("auto"));
    assert.equal(found.dialect, "vnish");
    assert.match(found.evidence, /^GET \/api\/v1\/info: Vnish 1\.2\.6 \(Antminer S19 XP\)$/);
    const m = createMiner(ep("auto"), "auto", { confirm: CONFIRM });
    opened.push(m);
    const r = await m.read();
    assert.equal(m.dialect, "vnish");
    assert.equal(r.firmware, "vnish 1.2.6");
    // stock bmminer with the Antminer web CGI on the same port: its 401 is not VNish
    const stock = await detectDialect({ host: STOCK, port: 4028, webPort: 80 });
    assert.equal(stock.dialect, "antminer");
    assert.equal(stock.evidence, "version: stock Bitmain (bmminer)");
  });
});

/** A raw request to a sim unit's web API, as another tool would send it. */
async function fetchJson(
  h: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<Record<string, string>> {
  const res = await fetch(`http://${h}${path}`, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? "" : JSON.stringify(body),
  });
  const text = await res.text();
  return text ? (JSON.parse(text) as Record<string, string>) : {};
}
