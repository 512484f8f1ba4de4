// Stock Antminer sleep/wake through the web CGI (Digest auth), end to end over
// loopback (127.75.x): MinerDriver + antminer dialect against the cgminer API sim
// and the Antminer web sim, both coupled to one power model. (Power steps,
// locate, reboot and detection: dialect-antminer-modes.test.ts.)
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { loadModelFiles } from "../../config/load.ts";
import { antminerDialect, createAntminerDialect } from "../../drivers/cgminer/dialects/antminer/dialect.ts";
import { AntminerWebClient } from "../../drivers/cgminer/dialects/antminer/web-client.ts";
import { type MinerCredentials, MinerDriver } from "../../drivers/cgminer/driver.ts";
import { ModelCatalog } from "../../drivers/cgminer/models.ts";
import {
  type AntminerWebSim,
  type MinerModeQuirk,
  startAntminerWebSim,
} from "../../sim/antminer-web/server.ts";
import { type CgminerSim, startCgminerSim } from "../../sim/cgminer/server.ts";
import { PowerModel } from "../../sim/power-model.ts";
import { startSimSite } from "../../sim/site.ts";
import { testPort } from "../helpers/ports.ts";

const ROOT: MinerCredentials = { username: "root", password: "root" };
const CONFIRM = { confirm: { confirmTimeoutMs: 3000, pollMs: 100 } };

interface Rig {
  model: PowerModel;
  cgminer: CgminerSim;
  web: AntminerWebSim;
  at(id: string): { host: string; port: number; webPort: number };
  stop(): Promise<void>;
}

async function startRig(
  miners: Array<{ id: string; host: string; minerMode?: MinerModeQuirk }>,
  delays: { setDelayMs?: number; getDelayMs?: number } = {},
): Promise<Rig> {
  const model = new PowerModel({ seed: 75, models: ["antminer-s19j-pro"] });
  const withPorts = await Promise.all(miners.map(async (m) => ({ ...m, port: await testPort(m.host) })));
  const cgminer = await startCgminerSim({ miners: withPorts, model });
  let web: AntminerWebSim;
  try {
    web = await startAntminerWebSim({
      miners: miners.map((m) => ({ id: m.id, host: m.host, port: 0, minerMode: m.minerMode })),
      model,
      ...delays,
    });
  } catch (err) {
    await cgminer.stop();
    throw err;
  }
  return {
    model,
    cgminer,
    web,
    at(id) {
      const c = cgminer.endpoints.find((e) => e.id === id)!;
      const w = web.endpoints.find((e) => e.id === id)!;
      return { host: c.host, port: c.port, webPort: w.port };
    },
    async stop() {
      await Promise.allSettled([web.stop(), cgminer.stop()]);
    },
  };
}

describe("stock Antminer sleep/wake over the web CGI", () => {
  let rig: Rig;
  // the shipped models: an S19j Pro's power steps, so nothing is withdrawn for want of them
  let models: ModelCatalog;
  before(async () => {
    models = new ModelCatalog(await loadModelFiles([]));
    rig = await startRig([
      { id: "am-1", host: "127.75.0.1" },
      { id: "am-2", host: "127.75.0.2" },
      { id: "am-3", host: "127.75.0.3" },
      { id: "am-4", host: "127.75.0.4" },
      { id: "am-5", host: "127.75.0.5", minerMode: "string-only" },
      { id: "am-6", host: "127.75.0.6" },
      { id: "am-7", host: "127.75.0.7", minerMode: "ignored" },
    ]);
  });
  after(async () => {
    await rig?.stop();
  });

  const driverFor = (id: string, credentials: MinerCredentials | null = ROOT) => {
    const { host, port, webPort } = rig.at(id);
    return new MinerDriver(antminerDialect, { host, port, webPort, credentials, models }, CONFIRM);
  };

  test("capabilities: every write only with a username and a password", () => {
    const { host, port, webPort } = rig.at("am-1");
    const caps = (credentials: MinerCredentials | null | undefined) =>
      new MinerDriver(antminerDialect, { host, port, webPort, credentials }).describe().capabilities;
    assert.deepEqual(caps(ROOT), ["sleep", "wake", "setPowerLimit", "reboot", "locate"]);
    assert.deepEqual(caps(undefined), []);
    assert.deepEqual(caps({ username: "root", password: null }), []);
    assert.deepEqual(caps({ username: "", password: "root" }), []);
  });

  test("a hashing miner's read asks nothing of the web CGI (after the capability probe at first contact)", async () => {
    const driver = driverFor("am-1");
    const first = rig.web.stats("am-1").requests;
    await driver.read();
    await driver.confirmed();
    assert.ok(rig.web.stats("am-1").requests > first, "the first read confirms the web CGI answers");
    assert.deepEqual(driver.withdrawn, []);
    const before = rig.web.stats("am-1").requests;
    const r = await driver.read();
    assert.equal(r.state, "hashing");
    assert.equal(rig.web.stats("am-1").requests, before);
  });

  test("sleep confirms: the draw falls, the reading says sleeping, the pools survive", async () => {
    const id = "am-1";
    const pools = rig.web.conf(id).pools;
    const drawBefore = rig.model.powerW(id);
    const driver = driverFor(id);

    const out = await driver.sleep();
    assert.equal(out.ok, true, out.reason ?? "");
    assert.equal(out.attempts, 1);
    assert.equal(rig.model.state(id), "sleeping");
    assert.ok(
      rig.model.powerW(id) < drawBefore * 0.1,
      `draw ${rig.model.powerW(id)} W after ${drawBefore} W`,
    );
    assert.equal(out.after?.state, "sleeping");

    const r = await driver.read();
    assert.equal(r.state, "sleeping");
    assert.equal(r.reason, "sleep mode (bitmain-work-mode 1)");

    const conf = rig.web.conf(id);
    assert.equal(conf["bitmain-work-mode"], "1");
    assert.deepEqual(conf.pools, pools);
    const [body] = rig.web.stats(id).setBodies as Array<Record<string, unknown>>;
    assert.equal(body?.["miner-mode"], 1);
    assert.equal("bitmain-work-mode" in (body ?? {}), false);
    assert.deepEqual(body?.pools, pools);
  });

  test("wake confirms", async () => {
    const id = "am-1";
    const out = await driverFor(id).wake();
    assert.equal(out.ok, true, out.reason ?? "");
    assert.equal(rig.model.state(id), "hashing");
    assert.equal(rig.web.conf(id)["bitmain-work-mode"], "0");
    assert.equal((await driverFor(id).read()).state, "hashing");
  });

  test("a woken unit still ramping reads starting (work mode 0), which confirms the wake", async () => {
    const id = "am-6";
    assert.equal((await driverFor(id).sleep()).ok, true);
    rig.model.wakeDelayMs = 60_000;
    try {
      const out = await driverFor(id).wake();
      assert.equal(out.ok, true, out.reason ?? "");
      assert.equal(rig.model.state(id), "starting");
      assert.equal(out.after?.state, "starting");
      assert.match(out.after?.reason ?? "", /work mode 0/);
    } finally {
      rig.model.wakeDelayMs = 0;
    }
  });

  test("a wrong password fails at once with a clear auth reason, no retry storm", async () => {
    const id = "am-2";
    const driver = driverFor(id, { username: "root", password: "wrong" });
    const out = await driver.sleep();
    assert.equal(out.ok, false);
    // the capability probe at first contact already met the refusal: nothing is sent
    assert.match(
      out.reason ?? "",
      /^sleep not offered by this miner: the Antminer web CGI \(port \d+\) refuses the configured username and password: .*wrong username or password/,
    );
    assert.equal(out.attempts, 0);
    assert.deepEqual(
      driver.withdrawn.map((w) => w.capability),
      ["sleep", "wake", "setPowerLimit", "reboot", "locate"],
    );
    const s = rig.web.stats(id);
    // one challenge round: the bare request and the one refused answer, nothing more
    assert.equal(s.requests, 2);
    assert.equal(s.unauthorized, 2);
    assert.equal(s.sets, 0);
    assert.equal(rig.model.state(id), "hashing");
  });

  test("no credentials: refused before any request", async () => {
    const id = "am-3";
    const out = await driverFor(id, null).sleep();
    assert.equal(out.ok, false);
    assert.match(out.reason ?? "", /cannot sleep \(no credentials configured\)/);
    assert.equal(out.attempts, 0);
    assert.equal(rig.web.stats(id).requests, 0);
    assert.equal(rig.model.state(id), "hashing");
  });

  test("the bitmain-work-mode write quirk: OK and no effect, and it does not fool the driver", async () => {
    const id = "am-4";
    const client = new AntminerWebClient(
      { host: rig.at(id).host, webPort: rig.at(id).webPort },
      {
        username: "root",
        password: "root",
      },
    );
    const conf = await client.getMinerConf();
    await client.setMinerConf({ pools: conf.pools, "bitmain-work-mode": "1" }); // M000 OK
    assert.equal(rig.model.state(id), "hashing");
    assert.equal((await client.getMinerConf())["bitmain-work-mode"], "0");
    assert.equal((await driverFor(id).read()).state, "hashing");

    const out = await driverFor(id).sleep();
    assert.equal(out.ok, true, out.reason ?? "");
    assert.equal(rig.model.state(id), "sleeping");
    const last = rig.web.stats(id).setBodies.at(-1) as Record<string, unknown>;
    assert.equal(last["miner-mode"], 1);
  });

  test("firmware that only takes a string: the read-back catches it and the string is sent", async () => {
    const id = "am-5";
    const out = await driverFor(id).sleep();
    assert.equal(out.ok, true, out.reason ?? "");
    assert.equal(rig.model.state(id), "sleeping");
    const modes = () =>
      (rig.web.stats(id).setBodies as Array<Record<string, unknown>>).map((b) => b["miner-mode"]);
    assert.deepEqual(modes(), [1, "1"]);
    // the encoding that worked is used first from then on
    assert.equal((await driverFor(id).wake()).ok, true);
    assert.deepEqual(modes(), [1, "1", "0"]);
    assert.equal(rig.model.state(id), "hashing");
  });

  test("firmware that ignores miner-mode: a clear refusal, not three slow retries", async () => {
    const id = "am-7";
    const out = await driverFor(id).sleep();
    assert.equal(out.ok, false);
    assert.match(out.reason ?? "", /^WK_ANTMINER_MODE_IGNORED: /);
    assert.equal(out.attempts, 1);
    assert.equal(rig.web.stats(id).sets, 2);
    assert.equal(rig.model.state(id), "hashing");
  });
});

describe("a slow CGI (slower than the read timeout, faster than the write timeout)", () => {
  let rig: Rig;
  before(async () => {
    rig = await startRig([{ id: "slow-1", host: "127.75.1.1" }], { setDelayMs: 400, getDelayMs: 400 });
  });
  after(async () => {
    await rig?.stop();
  });
  const web = { connectTimeoutMs: 500, readTimeoutMs: 150, writeTimeoutMs: 1500 };

  test("a read past its deadline is cut off", async () => {
    const { host, webPort } = rig.at("slow-1");
    const client = new AntminerWebClient({ host, webPort }, { username: "root", password: "root" }, web);
    const t0 = Date.now();
    await assert.rejects(client.getMinerConf(), /no reply within 150 ms/);
    assert.ok(Date.now() - t0 < 400);
  });

  test("sleep and wake still confirm", async () => {
    const { host, port, webPort } = rig.at("slow-1");
    const driver = new MinerDriver(
      createAntminerDialect({ web }),
      { host, port, webPort, credentials: ROOT },
      CONFIRM,
    );
    const t0 = Date.now();
    const slept = await driver.sleep();
    assert.equal(slept.ok, true, slept.reason ?? "");
    assert.ok(Date.now() - t0 >= 400 * 3, "get, set and read-back each waited for the slow CGI");
    assert.equal(rig.model.state("slow-1"), "sleeping");
    // the confirming read's get_miner_conf timed out: the 4028 view (0 TH/s, pools alive) stands
    assert.equal(slept.after?.state, "sleeping");
    assert.match(slept.after?.reason ?? "", /work mode unknown \(WK_ANTMINER_TIMEOUT\)/);

    const woke = await driver.wake();
    assert.equal(woke.ok, true, woke.reason ?? "");
    assert.equal(rig.model.state("slow-1"), "hashing");
  });
});

describe("the simulated site serves the web CGI when asked", () => {
  test("startSimSite({antminerWeb}) couples the web sim to the site's model", async () => {
    const host = "127.75.2.1";
    const site = await startSimSite({
      miners: [{ id: "site-1", host, port: await testPort(host), model: "antminer-s19j-pro" }],
      meters: [],
      antminerWeb: { port: 0 },
    });
    try {
      const web = site.antminerWeb;
      assert.ok(web);
      const w = web.endpoints.find((e) => e.id === "site-1")!;
      const c = site.cgminer.endpoints.find((e) => e.id === "site-1")!;
      const driver = new MinerDriver(
        antminerDialect,
        { host, port: c.port, webPort: w.port, credentials: ROOT },
        CONFIRM,
      );
      assert.equal((await driver.sleep()).ok, true);
      assert.equal(site.model.state("site-1"), "sleeping");
      site.wakeMiner("site-1");
      assert.equal(web.conf("site-1")["bitmain-work-mode"], "0");
    } finally {
      await site.stop();
    }
  });
});
