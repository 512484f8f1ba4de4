// The antminer dialect beyond sleep and wake (dialect-antminer-web.test.ts has
// those), end to end on loopback (127.150.x): the low-power mode as a power
// step with the mode read back, the steps in the reading, a hashing unit's
// reads costing one 4028 round trip once its mode is known, the locate LED,
// reboot (answered, or the connection dropped), and `dialect: auto` telling
// stock Bitmain from other stock cgminer without a write.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { loadModelFiles } from "../../config/load.ts";
import { detectDialect } from "../../drivers/cgminer/detect.ts";
import { antminerDialect } from "../../drivers/cgminer/dialects/antminer/dialect.ts";
import { AntminerWebClient } from "../../drivers/cgminer/dialects/antminer/web-client.ts";
import { MinerDriver, type MinerEndpoint } from "../../drivers/cgminer/driver.ts";
import { createMiner } from "../../drivers/cgminer/miner.ts";
import { type KnownModel, ModelCatalog } from "../../drivers/cgminer/models.ts";
import { type SimSite, startSimSite } from "../../sim/site.ts";
import { testPort } from "../helpers/ports.ts";

const ROOT = { username: "root", password: "root" };
const CONFIRM = { confirm: { confirmTimeoutMs: 3000, pollMs: 100 } };
const H = {
  low: "127.150.0.1",
  sleepy: "127.150.0.2",
  ignored: "127.150.0.3",
  hot: "127.150.0.4",
  led: "127.150.0.5",
  boot: "127.150.0.6",
  drop: "127.150.0.7",
  steps: "127.150.0.8",
  bare: "127.150.0.9",
  cg: "127.150.1.1",
  bfg: "127.150.1.2",
};

describe("antminer: power steps, locate, reboot, detection", () => {
  let site: SimSite;
  let models: ModelCatalog;
  const drivers: MinerDriver[] = [];
  before(async () => {
    models = new ModelCatalog(await loadModelFiles([]));
    const am = (id: keyof typeof H, antminer = {}) => ({
      id,
      host: H[id],
      port: 4028,
      dialect: "antminer",
      model: "antminer-s19j-pro",
      webPort: 0,
      antminer,
    });
    site = await startSimSite({
      seed: 150,
      noiseW: 0,
      miners: [
        am("low"),
        am("sleepy"),
        am("ignored", { minerMode: "ignored" }),
        am("hot"),
        am("led"),
        am("boot"),
        am("drop", { rebootReply: "drop" }),
        am("steps"),
        { id: "bare", host: H.bare, port: 4028, model: "antminer-s19j-pro" },
        { id: "cg", host: H.cg, port: 4028, program: "cgminer" },
        { id: "bfg", host: H.bfg, port: 4028, program: "bfgminer" },
      ],
      meters: [],
    });
  });
  after(async () => {
    await Promise.all(drivers.map((d) => d.close()));
    await site?.stop();
  });

  const webPortOf = (id: string) => site.antminerWeb!.endpoints.find((e) => e.id === id)!.port;
  const endpointOf = (id: keyof typeof H, extra: Partial<MinerEndpoint> = {}): MinerEndpoint => ({
    host: H[id],
    port: 4028,
    webPort: "webPort" in extra ? extra.webPort : webPortOf(id),
    credentials: ROOT,
    models,
    ...extra,
  });
  const driverFor = (id: keyof typeof H, extra: Partial<MinerEndpoint> = {}) => {
    const d = new MinerDriver(antminerDialect, endpointOf(id, extra), CONFIRM);
    drivers.push(d);
    return d;
  };
  const mode = (id: string) => site.antminerWeb!.conf(id)["bitmain-work-mode"];

  test("a limit between the steps lands on low power (mode 3 read back); at the normal step, normal", async () => {
    const d = driverFor("low");
    const before = site.model.powerW("low");
    const out = await d.setPowerLimit(2600);
    assert.equal(out.ok, true, out.reason ?? "");
    assert.equal(mode("low"), "3");
    // the unit draws its low-power step, and the reading says what the target gave
    assert.equal(site.model.powerW("low"), 2150);
    assert.ok(before > 2900, `${before} W at normal`);
    assert.equal(out.after?.powerLimitW, 2150);
    assert.deepEqual(out.after?.powerLimitStepsW, [2150, 3068]);
    assert.equal(out.after?.minPowerLimitW, 2150);
    assert.equal(out.after?.maxPowerLimitW, 3068);
    const body = site.antminerWeb!.stats("low").setBodies.at(-1) as Record<string, unknown>;
    assert.equal(body["miner-mode"], 3);

    const back = await d.setPowerLimit(3068);
    assert.equal(back.ok, true, back.reason ?? "");
    assert.equal(mode("low"), "0");
    assert.equal(back.after?.powerLimitW, 3068);
    assert.ok(Math.abs(site.model.powerW("low") - before) < 1, "back at its normal draw");
    // a target above the normal step (inside the model's range) is normal too: nothing to send
    const sets = site.antminerWeb!.stats("low").sets;
    const above = await d.setPowerLimit(3300);
    assert.equal(above.ok, true, above.reason ?? "");
    assert.equal(site.antminerWeb!.stats("low").sets, sets);
  });

  test("a target below the low-power step is refused with both steps named, nothing sent", async () => {
    const d = driverFor("steps");
    const out = await d.setPowerLimit(2100);
    assert.equal(out.ok, false);
    assert.match(
      out.reason ?? "",
      /^WK_ANTMINER_TARGET_TOO_LOW: no power step at or below 2100 W: low-power mode draws about 2150 W \(normal 3068 W\)$/,
    );
    assert.equal(out.attempts, 1);
    assert.equal(site.antminerWeb!.stats("steps").sets, 0);
  });

  test("asleep from low power, a wake returns to low power; a limit on a sleeping unit is refused", async () => {
    const d = driverFor("sleepy");
    assert.equal((await d.setPowerLimit(2600)).ok, true);
    const slept = await d.sleep();
    assert.equal(slept.ok, true, slept.reason ?? "");
    assert.equal(mode("sleepy"), "1");
    const limit = await d.setPowerLimit(2600);
    assert.equal(limit.ok, false);
    assert.match(limit.reason ?? "", /^WK_ANTMINER_ASLEEP: /);
    assert.equal(site.model.state("sleepy"), "sleeping", "the refused limit did not wake it");
    const woke = await d.wake();
    assert.equal(woke.ok, true, woke.reason ?? "");
    assert.equal(mode("sleepy"), "3");
    assert.equal(site.model.powerW("sleepy"), 2150);
    assert.equal(woke.after?.powerLimitW, 2150);
  });

  test("a unit that answers OK and keeps its mode: WK_ANTMINER_MODE_IGNORED, no retry storm", async () => {
    const d = driverFor("ignored");
    const out = await d.setPowerLimit(2600);
    assert.equal(out.ok, false);
    assert.match(out.reason ?? "", /^WK_ANTMINER_MODE_IGNORED: .*work mode stayed 0/);
    assert.equal(out.attempts, 1);
    assert.equal(site.antminerWeb!.stats("ignored").sets, 2, "as a number, then as a string");
    assert.equal(mode("ignored"), "0");
  });

  test("a model without a low-power figure, or not known at all: setPowerLimit withdrawn with why", async () => {
    const noLow = new ModelCatalog(
      models.models.map(
        (m): KnownModel => (m.name === "Antminer S19j Pro" ? { ...m, lowPowerW: undefined } : m),
      ),
    );
    const d = driverFor("steps", { models: noLow });
    await d.read();
    await d.confirmed();
    assert.deepEqual([...d.capabilities], ["sleep", "wake", "reboot", "locate"]);
    assert.match(d.withdrawn[0]!.reason, /^no low-power draw known for the Antminer S19j Pro \(lowPowerW, /);
    const bare = driverFor("steps", { models: null });
    await bare.read();
    await bare.confirmed();
    assert.match(
      bare.withdrawn.find((w) => w.capability === "setPowerLimit")!.reason,
      /the Antminer S19j Pro is not among the known models/,
    );
    const r = await bare.read();
    assert.equal(r.powerLimitStepsW, undefined, "no steps claimed without the model's figures");
  });

  test("hashing reads: one 4028 round trip once the mode is known; a restart by another hand asks again", async () => {
    const d = driverFor("hot");
    const web = () => site.antminerWeb!.stats("hot").gets;
    await d.read(); // first contact: the mode is asked
    await d.confirmed();
    const known = web();
    for (let i = 0; i < 3; i++) {
      const r = await d.read();
      assert.equal(r.state, "hashing");
      assert.equal(r.powerLimitW, 3068);
    }
    assert.equal(web(), known, "no web request while hashing with the mode known");
    // someone else puts it in low-power mode from the web UI: bmminer restarts
    const other = new AntminerWebClient({ host: H.hot, webPort: webPortOf("hot") }, ROOT);
    await other.setWorkMode(3);
    await site.setFaulted("hot", true);
    await site.setFaulted("hot", false);
    const r = await d.read();
    assert.equal(r.state, "hashing");
    assert.equal(r.powerLimitW, 2150, "the new mode, learnt after the restart");
    assert.equal(web(), known + 3, "the other client's get and read-back, and one ask of ours");
  });

  test("locate: the LED blinks and stops, each read back from get_blink_status", async () => {
    const d = driverFor("led");
    const on = await d.write("locate");
    assert.equal(on.ok, true, on.reason ?? "");
    assert.equal(site.antminerWeb!.blink("led"), true);
    assert.deepEqual(site.antminerWeb!.stats("led").blinkBodies, [{ blink: true }]);
    const off = await d.write("locate", 0);
    assert.equal(off.ok, true, off.reason ?? "");
    assert.equal(site.antminerWeb!.blink("led"), false);
    assert.equal(site.model.state("led"), "hashing");
  });

  test("reboot through reboot.cgi: back with a fresh uptime, in the mode it was in; a dropped connection counts as sent", async () => {
    const d = driverFor("boot");
    assert.equal((await d.setPowerLimit(2600)).ok, true);
    const out = await d.reboot();
    assert.equal(out.ok, true, out.reason ?? "");
    assert.equal(site.antminerWeb!.stats("boot").reboots, 1);
    assert.ok(out.after!.uptimeS! < out.before!.uptimeS!);
    assert.equal(mode("boot"), "3");
    assert.equal(site.model.powerW("boot"), 2150);

    const dropped = await driverFor("drop").reboot();
    assert.equal(dropped.ok, true, dropped.reason ?? "");
    assert.equal(dropped.attempts, 1);
    assert.equal(site.antminerWeb!.stats("drop").reboots, 1);
  });

  test("credentials but no web CGI behind the unit: every write withdrawn, the reason says it is not there", async () => {
    const d = driverFor("bare", { webPort: await testPort(H.bare) });
    const r = await d.read();
    assert.equal(r.state, "hashing");
    await d.confirmed();
    assert.deepEqual([...d.capabilities], []);
    assert.match(d.withdrawn[0]!.reason, /^the Antminer web CGI \(port \d+\) is not there/);
  });

  test("dialect auto: stock Bitmain from its version reply, other stock cgminer apart, nothing written", async () => {
    const found = await detectDialect(endpointOf("low"));
    assert.equal(found.dialect, "antminer");
    assert.equal(found.evidence, "version: stock Bitmain (bmminer)");
    assert.equal((await detectDialect({ host: H.cg, port: 4028 })).dialect, "cgminer");
    assert.equal((await detectDialect({ host: H.bfg, port: 4028 })).dialect, "cgminer");
    const sets = site.antminerWeb!.stats("steps").sets;
    const m = createMiner(endpointOf("steps"), "auto", CONFIRM);
    const r = await m.read();
    await m.confirmed();
    assert.equal(m.dialect, "antminer");
    assert.equal(r.state, "hashing");
    assert.deepEqual([...m.capabilities].sort(), ["locate", "reboot", "setPowerLimit", "sleep", "wake"]);
    assert.equal(site.antminerWeb!.stats("steps").sets, sets, "detection wrote nothing");
    await m.close();
  });
});
