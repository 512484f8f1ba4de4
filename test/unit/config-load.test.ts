// The config loader: every bad input gives a problem at the user's own path with
// a readable message, every problem is reported at once, and good files resolve
// to watts, seconds, expanded miners and read secrets.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import { ConfigError, formatProblem, loadConfig, type Problem } from "../../config/load.ts";
import { renderConfigReference } from "../../config/reference.ts";
import { summarizeConfig } from "../../config/summary.ts";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const examples = join(repo, "config", "examples");
const tmp = mkdtempSync(join(tmpdir(), "wk-config-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

// biome-ignore lint/suspicious/noExplicitAny: tests build and break configs of any shape
type Cfg = Record<string, any>;
const base = (): Cfg => YAML.parse(readFileSync(join(repo, "test/fixtures/config/minimal.yaml"), "utf8"));

let n = 0;
/** Writes a config (object → YAML, string as is) and any side files into a fresh folder. */
function write(content: Cfg | string, opts: { ext?: string; files?: Record<string, string> } = {}): string {
  const dir = join(tmp, `c${n++}`);
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(opts.files ?? {})) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  const file = join(dir, `site${opts.ext ?? ".yaml"}`);
  writeFileSync(file, typeof content === "string" ? content : YAML.stringify(content));
  return file;
}

async function problemsOf(
  file: string,
  opts: { strictFiles?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<Problem[]> {
  try {
    await loadConfig(file, { env: {}, ...opts });
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    return e.problems;
  }
  assert.fail("expected the config to be rejected");
}

interface BadCase {
  name: string;
  edit?: (c: Cfg) => void;
  text?: string;
  ext?: string;
  strictFiles?: boolean;
  path: string;
  message: string | RegExp;
  /** The line the problem must carry, where the source has one. */
  line?: number;
}

const sched = (over: Cfg) => ({ name: "peak", from: "15:00", to: "18:00", budgetW: "5MW", ...over });
const gpu = (over: Cfg) => ({
  id: "gpu-01",
  host: "10.2.0.11",
  user: "wk",
  privateKeyFile: "/etc/wk/id",
  hostKeySha256: "SHA256:Vc9X5d2mLJm9m0d0yqZ3r0G2n6b1mQh1fN8n4b3QeWk",
  floorW: 350,
  ...over,
});

const badCases: BadCase[] = [
  {
    name: "power with a wrong unit",
    edit: (c) => {
      c.control = { shedMarginW: "3.5kw/h" };
    },
    path: "control.shedMarginW",
    message: 'expected a power like 3500, "3.5kW" or "24MW", got "3.5kw/h"',
  },
  {
    name: "power of the wrong type",
    edit: (c) => {
      c.site.contractLimitW = true;
    },
    path: "site.contractLimitW",
    message: "expected a power like 3500",
  },
  {
    // 0 is zero import (generation behind the meter); below it is a mistake
    name: "negative contract limit",
    edit: (c) => {
      c.site.contractLimitW = "-1MW";
    },
    path: "site.contractLimitW",
    message: "must not be negative",
  },
  {
    name: "duration with an unknown unit",
    edit: (c) => {
      c.control = { minOnS: "5min" };
    },
    path: "control.minOnS",
    message: 'expected a duration like 30, "30s", "5m", "2h" or "500ms", got "5min"',
  },
  {
    name: "tick too short",
    edit: (c) => {
      c.control = { tickS: "100ms" };
    },
    path: "control.tickS",
    message: "must be at least 0.5 s",
  },
  {
    name: "tick too long",
    edit: (c) => {
      c.control = { tickS: "2m", meterStaleS: "5m" };
    },
    path: "control.tickS",
    message: "must be at most 60 s",
  },
  {
    name: "negative margin",
    edit: (c) => {
      c.control = { shedMarginW: "-10kW" };
    },
    path: "control.shedMarginW",
    message: 'must not be negative, got "-10kW"',
  },
  {
    name: "restore margin not above shed margin",
    edit: (c) => {
      c.control = { shedMarginW: "100kW", restoreMarginW: "100kW" };
    },
    path: "control.restoreMarginW",
    message: /must be greater than shedMarginW .*hysteresis/,
  },
  {
    name: "fail-safe budget over the contract",
    edit: (c) => {
      c.control = { failsafeBudgetW: "20MW" };
    },
    path: "control.failsafeBudgetW",
    message: "must not exceed site.contractLimitW (20 MW > 10 MW)",
  },
  {
    name: "meter stale time not above the tick",
    edit: (c) => {
      c.control = { tickS: 5, meterStaleS: 5 };
    },
    path: "control.meterStaleS",
    message: "must be greater than tickS",
  },
  {
    name: "CIDR prefix over 32",
    edit: (c) => {
      c.miners[0].hosts = "10.1.0.0/33";
    },
    path: "miners[0].hosts",
    message: "prefix length must be 0 to 32",
  },
  {
    name: "CIDR with a bad address",
    edit: (c) => {
      c.miners[0].hosts = "10.1.0.300/24";
    },
    path: "miners[0].hosts",
    message: '"10.1.0.300" is not an IPv4 address',
  },
  {
    name: "bad address in a host list",
    edit: (c) => {
      c.miners[0].hosts = ["10.1.2.5", "10.1.2.256"];
    },
    path: "miners[0].hosts[1]",
    message: "is not an",
  },
  {
    name: "reversed range",
    edit: (c) => {
      c.miners[0].hosts = "10.1.0.20-10.1.0.10";
    },
    path: "miners[0].hosts",
    message: "is reversed",
  },
  {
    name: "range over the cap",
    edit: (c) => {
      c.miners[0].hosts = "10.0.0.0/8";
    },
    path: "miners[0].hosts",
    message: "10.0.0.0/8 would yield 16,777,214 miners, over the limit of 65,536 miners in total",
  },
  {
    name: "entries together over the cap",
    edit: (c) => {
      c.miners = [{ hosts: "10.20.0.0/16" }, { hosts: "10.30.0.1-10.30.0.10" }];
    },
    path: "miners[1].hosts",
    message: "would yield 10 miners, over the limit: 2 left of 65,536 miners in total",
  },
  {
    name: "overlapping ranges",
    edit: (c) => {
      c.miners.push({ hosts: "10.1.0.18-30" });
    },
    path: "miners[1].hosts",
    message: "10.1.0.18:4028 is also in miners[0]",
  },
  {
    name: "one host and an id taken by a meter",
    edit: (c) => {
      c.miners.push({ host: "10.9.9.9", id: "pcc" });
    },
    path: "miners[1].id",
    message: 'id "pcc" is also used by meters[0]',
  },
  {
    name: "GPU node id taken by a meter",
    edit: (c) => {
      c.gpuNodes = [gpu({ id: "pcc" })];
    },
    path: "gpuNodes[0].id",
    message: 'id "pcc" is also used by meters[0]',
  },
  {
    name: "derived id clashing with an explicit one",
    edit: (c) => {
      c.miners.unshift({ host: "10.9.9.9", id: "m-10-1-0-12" });
    },
    path: "miners[1].hosts",
    message: 'derived id "m-10-1-0-12" is also used by miners[0]',
  },
  {
    name: "unknown top-level key",
    edit: (c) => {
      c.contorl = { tickS: 2 };
    },
    path: "contorl",
    message: "unknown key (did you mean control?)",
  },
  {
    name: "unknown nested key",
    edit: (c) => {
      c.control = { shedMargin: "50kW" };
    },
    path: "control.shedMargin",
    message: "unknown key (did you mean shedMarginW?)",
  },
  {
    name: "unknown key in a list entry",
    edit: (c) => {
      c.miners[0].dialekt = "luxos";
    },
    path: "miners[0].dialekt",
    message: "did you mean dialect?",
  },
  {
    name: "missing secret file with strictFiles",
    edit: (c) => {
      c.mqtt = { url: "mqtt://127.0.0.1:1883", passwordFile: "nope.pass" };
    },
    strictFiles: true,
    path: "mqtt.passwordFile",
    message: /file not found: .*nope\.pass \(or set WATTKEEPER_MQTT_PASSWORD\)/,
  },
  {
    name: "schedule time out of range",
    edit: (c) => {
      c.control = { schedule: [sched({ from: "25:00" })] };
    },
    path: "control.schedule[0].from",
    message: 'expected a time "HH:MM" from 00:00 to 23:59, got "25:00"',
  },
  {
    name: "schedule from equal to to",
    edit: (c) => {
      c.control = { schedule: [sched({ to: "15:00" })] };
    },
    path: "control.schedule[0].to",
    message: "must differ from from (15:00)",
  },
  {
    name: "schedule month out of range",
    edit: (c) => {
      c.control = { schedule: [sched({ months: [6, 13] })] };
    },
    path: "control.schedule[0].months[1]",
    message: "must be at most 12, got 13",
  },
  {
    name: "schedule day misspelt",
    edit: (c) => {
      c.control = { schedule: [sched({ days: ["monday"] })] };
    },
    path: "control.schedule[0].days[0]",
    message: 'expected one of mon, tue, wed, thu, fri, sat, sun, got "monday"',
  },
  {
    name: "bad time zone",
    edit: (c) => {
      c.site.timezone = "Mars/Olympus_Mons";
    },
    path: "site.timezone",
    message: "expected an IANA time zone",
  },
  {
    name: "bad site id",
    edit: (c) => {
      c.site.id = "Odessa_1";
    },
    path: "site.id",
    message: 'expected lowercase letters, digits and "-" only',
  },
  {
    name: "bad host key fingerprint",
    edit: (c) => {
      c.gpuNodes = [gpu({ hostKeySha256: "SHA256:abc=" })];
    },
    path: "gpuNodes[0].hostKeySha256",
    message: 'expected "SHA256:" and 43 base64 characters',
  },
  {
    name: "neither host key nor known_hosts",
    edit: (c) => {
      c.gpuNodes = [gpu({ hostKeySha256: undefined })];
    },
    path: "gpuNodes[0].hostKeySha256",
    message: "host keys are pinned",
  },
  {
    name: "a drain-tier GPU node without its drain command",
    edit: (c) => {
      c.gpuNodes = [gpu({ flex: "drain", resumeCommand: "kubectl uncordon gpu-01" })];
    },
    path: "gpuNodes[0].drainCommand",
    message: "flex: drain needs drainCommand",
  },
  {
    name: "a drain command on more than one line",
    edit: (c) => {
      c.gpuNodes = [gpu({ flex: "drain", drainCommand: "kubectl cordon a\nrm -rf /", resumeCommand: "x" })];
    },
    path: "gpuNodes[0].drainCommand",
    message: "must be one line",
  },
  {
    name: "an unknown control strategy",
    edit: (c) => {
      c.control = { strategy: "follow" };
    },
    path: "control.strategy",
    message: /track/,
  },
  {
    name: "a meter staler than its own poll",
    edit: (c) => {
      c.control = { meterStaleS: 2 };
      c.polling = { metersS: 5 };
    },
    path: "control.meterStaleS",
    message: "must be greater than polling.metersS",
  },
  {
    name: "miner detail read more often than the miners themselves",
    edit: (c) => {
      c.polling = { minersS: 10, minerDetailS: 5 };
    },
    path: "polling.minerDetailS",
    message: "must be at least polling.minersS",
  },
  {
    name: "a worker pattern that is not a regular expression",
    edit: (c) => {
      c.miners = [{ host: "10.1.0.10", pools: { workerPattern: "^odessa1\\.(" } }];
    },
    path: "miners[0].pools.workerPattern",
    message: "not a valid regular expression",
  },
  {
    name: "bad password hash",
    edit: (c) => {
      c.http = { operators: [{ name: "tech", passwordHash: "hunter2" }] };
    },
    path: "http.operators[0].passwordHash",
    message: 'expected "scrypt$N$r$p$<salt-b64>$<hash-b64>"',
  },
  {
    name: "unknown meter profile",
    edit: (c) => {
      c.meters[0].profile = "sdm999";
    },
    path: "meters[0].profile",
    message: /unknown meter profile "sdm999"; known: .*sdm630/,
  },
  {
    name: "profile and inline registers both",
    edit: (c) => {
      c.meters[0].registers = { powerW: { address: 52, type: "f32" } };
    },
    path: "meters[0].registers",
    message: "give either profile or an inline registers map, not both",
  },
  {
    name: "inline registers without powerW",
    edit: (c) => {
      delete c.meters[0].profile;
      c.meters[0].registers = { energyKwh: { address: 342, type: "f32" } };
    },
    path: "meters[0].registers.powerW",
    message: "a meter profile must map powerW",
  },
  {
    name: "two site meters",
    edit: (c) => {
      c.meters.push({
        id: "pcc2",
        role: "site",
        profile: "sdm630",
        modbus: { tcp: "127.0.0.2:502", unitId: 1 },
      });
    },
    path: "meters[1].role",
    message: "only one meter may have role site; meters[0] already does",
  },
  {
    name: "RTU unit id 0",
    edit: (c) => {
      c.meters[0].modbus = { rtu: "/dev/ttyUSB0", baudRate: 9600, parity: "none", unitId: 0 };
    },
    path: "meters[0].modbus.unitId",
    message: "must be 1–247 on RTU",
  },
  {
    name: "no Modbus transport",
    edit: (c) => {
      c.meters[0].modbus = { unitId: 1 };
    },
    path: "meters[0].modbus",
    message: "expected one of tcp, rtu or rtuOverTcp",
  },
  {
    name: "host and hosts both",
    edit: (c) => {
      c.miners[0].host = "10.1.0.9";
    },
    path: "miners[0].hosts",
    message: "give host or hosts, not both",
  },
  {
    name: "economics topic without mqtt",
    edit: (c) => {
      c.control = { economics: { hashpricePerThDay: 0.05, energyPriceTopic: "prices/x" } };
    },
    path: "control.economics.energyPriceTopic",
    message: "needs an mqtt section",
  },
  {
    name: "broker URL with the wrong scheme",
    edit: (c) => {
      c.mqtt = { url: "http://broker:1883" };
    },
    path: "mqtt.url",
    message: "expected a broker URL",
  },
  {
    name: "priority not an integer",
    edit: (c) => {
      c.miners[0].priority = 1.5;
    },
    path: "miners[0].priority",
    message: "expected an integer, got 1.5",
  },
  {
    name: "site missing",
    edit: (c) => {
      delete c.site;
    },
    path: "site",
    message: "is required",
  },
  {
    name: "YAML syntax error",
    text: "site:\n  id: t-1\n  timezone: [UTC\n",
    path: "",
    message: /^invalid YAML/,
    // the unclosed "[" is noticed where the text ends
    line: 4,
  },
  {
    name: "YAML duplicate key",
    text: "site:\n  id: t-1\n  id: t-2\n",
    path: "",
    message: /^invalid YAML: Map keys must be unique/,
    line: 3,
  },
  {
    name: "JSON syntax error",
    text: '{\n  "site": { "id": "t-1", }\n}\n',
    ext: ".json",
    path: "",
    message: /^invalid JSON/,
    line: 2,
  },
  { name: "empty file", text: "\n  \n", path: "", message: "the file is empty" },
  { name: "only comments", text: "# nothing yet\n", path: "", message: "the file is empty" },
  { name: "not a mapping", text: "- a\n- b\n", path: "", message: "expected a mapping of sections" },
];

describe("loadConfig rejects bad input", () => {
  for (const c of badCases) {
    it(c.name, async () => {
      let file: string;
      if (c.text !== undefined) file = write(c.text, { ext: c.ext });
      else {
        const cfg = base();
        c.edit?.(cfg);
        file = write(cfg, { ext: c.ext });
      }
      const problems = await problemsOf(file, { strictFiles: c.strictFiles });
      const hit = problems.find(
        (p) =>
          p.path === c.path &&
          (c.line === undefined || p.line === c.line) &&
          (typeof c.message === "string" ? p.message.includes(c.message) : c.message.test(p.message)),
      );
      assert.ok(
        hit,
        `no problem at "${c.path}" matching ${String(c.message)}; got:\n${problems.map((p) => formatProblem("f", p)).join("\n")}`,
      );
    });
  }

  it("a missing config file is a ConfigError", async () => {
    const problems = await problemsOf(join(tmp, "does-not-exist.yaml"));
    assert.equal(problems.length, 1);
    assert.match(
      problems[0]!.message,
      /^cannot read the config file: file not found: .*does-not-exist\.yaml$/,
    );
  });

  it("reports every mistake of a file at once", async () => {
    const cfg = base();
    cfg.site.timezone = "Nowhere/Land";
    cfg.contorl = {};
    cfg.control = { shedMarginW: "50kw/h" };
    cfg.miners.push({ hosts: "10.1.0.15-16" });
    cfg.meters[0].profile = "nope";
    cfg.gpuNodes = [gpu({ hostKeySha256: "bad" })];
    const problems = await problemsOf(write(cfg));
    const paths = problems.map((p) => p.path);
    for (const want of [
      "site.timezone",
      "contorl",
      "control.shedMarginW",
      "miners[1].hosts",
      "meters[0].profile",
      "gpuNodes[0].hostKeySha256",
    ]) {
      assert.ok(paths.includes(want), `missing ${want} in ${paths.join(", ")}`);
    }
    assert.equal(problems.filter((p) => p.path === "miners[1].hosts").length, 2);
  });

  it("caps duplicate lines and counts the rest", async () => {
    const cfg = base();
    cfg.miners.push({ hosts: "10.1.0.0/24" });
    const problems = await problemsOf(write(cfg));
    const dups = problems.filter((p) => p.path === "miners[1].hosts");
    assert.equal(dups.length, 6);
    assert.equal(dups[0]?.message, "10.1.0.10:4028 is also in miners[0]");
    assert.equal(dups[5]?.message, "… and 6 more duplicate host:port pairs");
  });

  it("the same file is a warning without strictFiles, an error with it, same message", async () => {
    const cfg = base();
    cfg.miners[0].credentials = { passwordFile: "missing.pass" };
    const file = write(cfg);
    const { warnings } = await loadConfig(file, { env: {} });
    const errors = await problemsOf(file, { strictFiles: true });
    assert.equal(warnings.length, 1);
    assert.deepEqual(errors, warnings);
    assert.equal(warnings[0]?.path, "miners[0].credentials.passwordFile");
    assert.match(warnings[0]?.message ?? "", /WATTKEEPER_MINERS_0_CREDENTIALS_PASSWORD/);
  });

  it("formats problems as FILE: path: message", () => {
    assert.equal(
      formatProblem("a.yaml", { path: "miners[3].host", message: "x" }),
      "a.yaml: miners[3].host: x",
    );
    assert.equal(
      formatProblem("a.yaml", { path: "", message: "the file is empty" }),
      "a.yaml: the file is empty",
    );
  });
});

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

describe("loading cannot crash or run away", () => {
  it("an unresolved alias is a problem at its line, not a crash", async () => {
    const file = write(
      "site: { id: t-1, timezone: UTC, contractLimitW: 1MW }\nminers:\n  - { host: 10.0.0.1, location: *containerA }\n",
    );
    const problems = await problemsOf(file);
    assert.deepEqual(problems, [
      {
        path: "",
        line: 3,
        col: 33,
        message: "invalid YAML: alias *containerA has no anchor &containerA before it",
      },
    ]);
    assert.equal(
      formatProblem(file, problems[0]!),
      `${file}:3:33: invalid YAML: alias *containerA has no anchor &containerA before it`,
    );
  });

  it("an alias bomb stops at the alias limit", async () => {
    const lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 12; i++) {
      const name = String.fromCharCode(97 + i);
      lines.push(
        `${name}: &${name} [${Array(10)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(", ")}]`,
      );
    }
    const started = Date.now();
    const problems = await problemsOf(write(lines.join("\n")));
    assert.ok(Date.now() - started < 2000);
    assert.match(problems[0]!.message, /^invalid YAML: aliases expand beyond 1000 nodes/);
    assert.equal(problems[0]!.line, 2);
  });

  it("an unknown tag (!!js/function) is refused", async () => {
    const problems = await problemsOf(write("site: !!js/function 'function () {}'\n"));
    assert.match(problems[0]!.message, /^invalid YAML: Unresolved tag: tag:yaml\.org,2002:js\/function/);
    assert.equal(problems[0]!.line, 1);
  });

  it("a duplicate key in JSON is refused (JSON.parse would keep the last one silently)", async () => {
    const problems = await problemsOf(write('{"site": {"id": "a", "id": "b"}}', { ext: ".json" }));
    assert.match(problems[0]!.message, /^duplicate key: Map keys must be unique/);
  });

  it("a config file over 8 MiB is refused before it is parsed", async () => {
    const file = write(`# ${"x".repeat(8 * 1024 * 1024)}\nsite: {}\n`);
    const problems = await problemsOf(file);
    assert.match(
      problems[0]!.message,
      /^cannot read the config file: .* is 8\.0 MiB; at most 8\.0 MiB is read$/,
    );
  });

  it("secret files: a FIFO, a device, a folder and a large file are refused without hanging", async () => {
    const dir = join(tmp, `fifo${n++}`);
    mkdirSync(dir, { recursive: true });
    const fifo = join(dir, "pass.fifo");
    execFileSync("mkfifo", [fifo]);
    writeFileSync(join(dir, "big.pass"), "x".repeat(70 * 1024));
    const cfg = base();
    cfg.mqtt = { url: "mqtt://127.0.0.1:1883", passwordFile: fifo, username: "u" };
    cfg.miners = [
      { host: "10.0.0.1", dialect: "whatsminer", credentials: { passwordFile: "/dev/zero" } },
      { host: "10.0.0.2", dialect: "whatsminer", credentials: { passwordFile: dir } },
      { host: "10.0.0.3", dialect: "whatsminer", credentials: { passwordFile: join(dir, "big.pass") } },
    ];
    const started = Date.now();
    const problems = await problemsOf(write(cfg), { strictFiles: true });
    assert.ok(Date.now() - started < 3000, `${Date.now() - started} ms`);
    const byPath = (p: string) => problems.find((x) => x.path === p)?.message ?? "";
    assert.match(byPath("mqtt.passwordFile"), /is a named pipe \(FIFO\), not a regular file/);
    assert.match(byPath("miners[0].credentials.passwordFile"), /\/dev\/zero is a device, not a regular file/);
    assert.match(byPath("miners[1].credentials.passwordFile"), /is a folder, not a regular file/);
    assert.match(byPath("miners[2].credentials.passwordFile"), /is 70 KiB; at most 64 KiB is read/);
  });

  it("every problem of a file in one round: schema, across fields and ids together, each at its line", async () => {
    const file = write(`site: { id: t-1, timezone: UTC, contractLimitW: 10MW }
miners:
  - { host: 10.0.0.1, id: dup }
  - { host: 10.0.0.2, id: dup }
  - { host: 10.0.0.3, priority: banana }
control:
  shedMarginW: 100kW
  restoreMarginW: 50kW
  tickS: 0.1
`);
    const problems = await problemsOf(file);
    assert.deepEqual(problems.map((p) => `${p.line}: ${p.path}`).sort(), [
      "4: miners[1].id",
      "5: miners[2].priority",
      "8: control.restoreMarginW",
      "9: control.tickS",
    ]);
  });
});
