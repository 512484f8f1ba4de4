// The config loader resolves good files to watts, seconds, expanded miners and read secrets.
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { ConfigError, loadConfig } from "../../config/load.ts";
import { renderConfigReference } from "../../config/reference.ts";
import { summarizeConfig } from "../../config/summary.ts";
import { base, examples, repo, sched, write } from "./config-load-fixtures.ts";

describe("loadConfig resolves good input", () => {
  it("loads the documented example with warnings only for files absent here", async () => {
    const { config, warnings } = await loadConfig(join(examples, "site.yaml"), { env: {} });
    assert.equal(config.site.id, "odessa-1");
    assert.equal(config.site.contractLimitW, 24e6);
    assert.equal(config.miners.length, 241 + 1 + 2);
    assert.equal(config.miners[0]?.id, "m-10-1-0-10");
    assert.equal(config.miners[0]?.nominalW, 3500);
    assert.equal(config.miners[241]?.dialect, "luxos");
    assert.equal(config.miners[242]?.source, "miners[2]");
    assert.deepEqual(config.meters[1]?.modbus, {
      kind: "rtu",
      path: "/dev/ttyUSB0",
      baudRate: 9600,
      parity: "none",
      dataBits: 8,
      stopBits: 1,
      unitId: 2,
    });
    assert.equal(config.meters[0]?.profile.name, "sdm630");
    assert.equal(config.control.minOnS, 300);
    assert.equal(config.control.failsafeBudgetW, 10e6);
    assert.equal(config.control.schedule[0]?.budgetW, 5e6);
    assert.equal(config.mqtt?.protocolVersion, 5);
    assert.equal(config.mqtt?.password, null);
    const paths = warnings.map((w) => w.path);
    for (const p of [
      "mqtt.passwordFile",
      "mqtt.caFile",
      "gpuNodes[0].privateKeyFile",
      "miners[2].credentials.passwordFile",
    ]) {
      assert.ok(paths.includes(p), `expected a warning at ${p}`);
    }
    const summary = summarizeConfig(config);
    assert.match(summary, /odessa-1/);
    assert.match(summary, /24 MW/);
    assert.match(summary, /244 miners/);
    assert.match(summary, /1 site, 1 ai/);
    assert.match(summary, /4CP peak: 15:00–18:00/);
  });

  it("loads the sim example with no warnings", async () => {
    const { config, warnings } = await loadConfig(join(examples, "sim.yaml"), { env: {} });
    assert.deepEqual(warnings, []);
    assert.equal(config.miners.length, 100);
    assert.equal(config.miners[0]?.host, "127.1.0.1");
    assert.equal(config.miners[99]?.host, "127.1.0.100");
    assert.equal(config.sim?.seed, 1);
    assert.equal(config.sim?.auxW, 20000);
    assert.equal(config.store.path, join(repo, ".state", "sim.db"));
    assert.equal(config.mqtt, null);
  });

  it("derives ids from the prefix, the address and a non-default port", async () => {
    const cfg = base();
    cfg.miners = [
      { hosts: "10.1.0.10-11" },
      { hosts: ["10.1.0.10"], port: 4029 },
      { host: "10.1.0.12", idPrefix: "a-" },
      { host: "10.1.0.13", id: "special" },
    ];
    const { config } = await loadConfig(write(cfg), { env: {} });
    assert.deepEqual(
      config.miners.map((m) => m.id),
      ["m-10-1-0-10", "m-10-1-0-11", "m-10-1-0-10-4029", "a-10-1-0-12", "special"],
    );
  });

  it("reads secrets from files relative to the config, and the env var wins", async () => {
    const cfg = base();
    cfg.mqtt = {
      url: "mqtts://broker:8883",
      username: "u",
      passwordFile: "secrets/mqtt.pass",
      caFile: "ca.pem",
    };
    cfg.miners[0].credentials = { username: "root", passwordFile: "secrets/miner.pass" };
    const file = write(cfg, {
      files: { "secrets/mqtt.pass": "from-file\n", "secrets/miner.pass": "miner-file\r\n", "ca.pem": "PEM" },
    });
    const dir = dirname(file);
    const r1 = await loadConfig(file, { env: {}, strictFiles: true });
    assert.equal(r1.config.mqtt?.password, "from-file");
    assert.equal(r1.config.mqtt?.passwordFile, join(dir, "secrets/mqtt.pass"));
    assert.equal(r1.config.mqtt?.ca, "PEM");
    assert.deepEqual(r1.config.miners[0]?.credentials, {
      username: "root",
      passwordFile: join(dir, "secrets/miner.pass"),
      password: "miner-file",
    });
    const r2 = await loadConfig(file, {
      env: { WATTKEEPER_MQTT_PASSWORD: "from-env", WATTKEEPER_MINERS_0_CREDENTIALS_PASSWORD: "m-env" },
    });
    assert.equal(r2.config.mqtt?.password, "from-env");
    assert.equal(r2.config.miners[5]?.credentials?.password, "m-env");
  });

  it("an env var stands in for a missing file, without a warning", async () => {
    const cfg = base();
    cfg.mqtt = { url: "mqtt://broker", passwordFile: "/nonexistent/mqtt.pass" };
    const { config, warnings } = await loadConfig(write(cfg), {
      env: { WATTKEEPER_MQTT_PASSWORD: "s3cret-value" },
      strictFiles: true,
    });
    assert.deepEqual(warnings, []);
    assert.equal(config.mqtt?.password, "s3cret-value");
    assert.doesNotMatch(summarizeConfig(config), /s3cret-value/);
  });

  it("never puts a secret in a problem", async () => {
    const cfg = base();
    cfg.mqtt = { url: "mqtt://broker", passwordFile: "p" };
    cfg.site.timezone = "Bad/Zone";
    const file = write(cfg, { files: { p: "s3cret-value" } });
    try {
      await loadConfig(file, { env: { WATTKEEPER_MQTT_PASSWORD: "env-s3cret" } });
      assert.fail("expected a ConfigError");
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      assert.doesNotMatch(e.message, /s3cret/);
    }
  });

  it("defaults the store to the state directory", async () => {
    const file = write(base());
    const a = await loadConfig(file, { env: { WATTKEEPER_STATE_DIR: "/srv/wk" } });
    assert.equal(a.config.store.path, "/srv/wk/wattkeeper.db");
    const b = await loadConfig(file, { env: { STATE_DIRECTORY: "/var/lib/wk-unit" } });
    assert.equal(b.config.store.path, "/var/lib/wk-unit/wattkeeper.db");
    const c = await loadConfig(file, { env: {} });
    assert.equal(c.config.store.path, "/var/lib/wattkeeper/wattkeeper.db");
  });

  it("applies defaults and converts units", async () => {
    const cfg = base();
    cfg.control = { tickS: "500ms", meterStaleS: "1m", schedule: [sched({ from: "22:00", to: "06:00" })] };
    const { config } = await loadConfig(write(cfg), { env: {} });
    assert.equal(config.site.name, "t-1");
    assert.equal(config.control.tickS, 0.5);
    assert.equal(config.control.meterStaleS, 60);
    assert.equal(config.control.shedMarginW, 50e3);
    assert.equal(config.control.restoreMarginW, 150e3);
    assert.equal(config.control.rampUpWPerMin, 2e6);
    assert.equal(config.control.failsafeBudgetW, 5e6);
    assert.equal(config.control.strategy, "sleep");
    assert.equal(config.control.schedule[0]?.days.length, 7);
    assert.deepEqual(config.http.listen, { host: "0.0.0.0", port: 8080 });
    assert.deepEqual(config.http.operators, []);
    assert.equal(config.log.level, "info");
    assert.equal(config.sim, null);
    assert.equal(config.miners[0]?.port, 4028);
    assert.equal(config.miners[0]?.dialect, "auto");
    assert.equal(config.miners[0]?.priority, 0);
    assert.equal(config.meters[0]?.timeoutMs, 1000);
    assert.match(summarizeConfig(config), /22:00–06:00 \(over midnight\)/);
  });

  it("reads JSON configs too", async () => {
    const { config } = await loadConfig(write(JSON.stringify(base()), { ext: ".json" }), { env: {} });
    assert.equal(config.miners.length, 11);
  });

  it("accepts an inline register map", async () => {
    const cfg = base();
    delete cfg.meters[0].profile;
    cfg.meters[0].registers = { powerW: { address: 52, type: "f32" } };
    const { config } = await loadConfig(write(cfg), { env: {} });
    assert.equal(config.meters[0]?.profile.registers.powerW?.address, 52);
    assert.equal(config.meters[0]?.profile.registers.powerW?.wordOrder, "big");
  });

  it("renders a reference with every section", () => {
    const md = renderConfigReference();
    for (const key of [
      "control.shedMarginW",
      "miners[].hosts",
      "gpuNodes[].hostKeySha256",
      "sim.seed",
      "WATTKEEPER_MQTT_PASSWORD",
    ]) {
      assert.ok(md.includes(key), `reference lacks ${key}`);
    }
  });
});
