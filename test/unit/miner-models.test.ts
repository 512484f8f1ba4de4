// Miner models as data: the shipped config/models/*.yaml load clean and cover
// the fleet, lookup by the name firmware reports is forgiving of case, spaces
// and vendor variants, a bad model file is reported at its file, line and path,
// a site's own models override the shipped ones, and a power limit outside the
// model's range is refused before anything is sent.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import { planView } from "../../agent/site/plan-view.ts";
import { SiteState } from "../../agent/site/state.ts";
import { ConfigError, formatProblem, loadConfig, loadModelFiles, type Problem } from "../../config/load.ts";
import { failedReading } from "../../drivers/cgminer/client.ts";
import { type DialectSpec, MinerDriver } from "../../drivers/cgminer/driver.ts";
import { ModelCatalog, powerLimitOutOfRange } from "../../drivers/cgminer/models.ts";
import { normalizeMiner } from "../../drivers/cgminer/reading.ts";
import type { MinerReading } from "../../drivers/types.ts";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const tmp = mkdtempSync(join(tmpdir(), "wk-models-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

async function shipped(): Promise<ModelCatalog> {
  const problems: Problem[] = [];
  const models = await loadModelFiles(problems);
  assert.deepEqual(problems, []);
  return new ModelCatalog(models);
}

describe("shipped models", () => {
  test("every file loads without a problem, each model with its file as origin", async () => {
    const c = await shipped();
    assert.ok(c.models.length >= 25, `${c.models.length} models`);
    assert.deepEqual(c.clashes, []);
    for (const m of c.models) assert.match(m.origin, /^config\/models\/[a-z]+\.yaml$/);
  });

  test("the fleet of issue 16 is there, under the names its firmware reports", async () => {
    const c = await shipped();
    const expect: Record<string, string> = {
      "Antminer S19": "Antminer S19",
      "Antminer S19j Pro": "Antminer S19j Pro",
      "Antminer S19 XP": "Antminer S19 XP",
      "Antminer S19k Pro": "Antminer S19k Pro",
      "Antminer S21": "Antminer S21",
      "Antminer S21 XP": "Antminer S21 XP",
      "Antminer S21+ Hyd.": "Antminer S21+ Hyd",
      "Antminer T21": "Antminer T21",
      "M30S++": "Whatsminer M30S++",
      "WhatsMiner M50": "Whatsminer M50",
      M53: "Whatsminer M53",
      M60: "Whatsminer M60",
      M63: "Whatsminer M63",
      M66: "Whatsminer M66",
      "AvalonMiner 1366": "Avalon A1366",
      A1466: "Avalon A1466",
      AT2880: "Auradine Teraflux AT2880",
      AH3880: "Auradine Teraflux AH3880",
      "Proto Rig": "Proto Rig",
      BM1370: "Bitaxe Gamma",
    };
    for (const [reported, name] of Object.entries(expect))
      assert.equal(c.find(reported)?.name, name, reported);
  });

  test("lookup ignores case, spaces and punctuation, and knows the vendors' variants", async () => {
    const c = await shipped();
    const cases: [string, string | null][] = [
      ["antminer  s19J PRO", "Antminer S19j Pro"],
      ["ANTMINER S19XP", "Antminer S19 XP"],
      ["S19j Pro", "Antminer S19j Pro"],
      ["Antminer S19 Pro", "Antminer S19 Pro"], // not the S19
      ["M30S++V40", "Whatsminer M30S++"], // Whatsminer chip-bin suffix
      ["WhatsMiner M50S VH30", "Whatsminer M50S"],
      ["M30S+ VE40", "Whatsminer M30S+"], // S+ is not S++
      ["Avalon A1466", "Avalon A1466"],
      ["Teraflux AT2880", "Auradine Teraflux AT2880"],
      ["Antminer S21+ Hydro", "Antminer S21+ Hyd"],
      ["Antminer L7", null],
      ["", null],
      [null as unknown as string, null],
    ];
    for (const [reported, name] of cases)
      assert.equal(c.find(reported)?.name ?? null, name, String(reported));
  });

  test("the figures hold together: range around nameplate, sleep below it, a wake-up time", async () => {
    for (const m of (await shipped()).models) {
      // a Bitaxe's ESP32 and fan are a large share of its 18 W; an ASIC's control board is not
      assert.ok(m.sleepW <= m.nominalW / (m.nominalW < 100 ? 4 : 40), `${m.name} sleepW`);
      assert.ok(m.wakeUpS > 0, `${m.name} wakeUpS`);
      if (m.powerLimitW) assert.ok(m.powerLimitW.min < m.nominalW && m.nominalW <= m.powerLimitW.max, m.name);
    }
  });

  test("a limit outside the range is worded with the model and its file", async () => {
    const s19jPro = (await shipped()).find("Antminer S19j Pro")!;
    assert.equal(
      powerLimitOutOfRange(s19jPro, 900),
      "power limit 900 W is below the Antminer S19j Pro's minimum 2,000 W (config/models/antminer.yaml)",
    );
    assert.equal(
      powerLimitOutOfRange(s19jPro, 4000),
      "power limit 4,000 W is above the Antminer S19j Pro's maximum 3,400 W (config/models/antminer.yaml)",
    );
    assert.equal(powerLimitOutOfRange(s19jPro, 2500), null);
  });

  test("the nameplate estimate comes from the model where the config gives no nominalW, which wins", async () => {
    const c = await shipped();
    const version = { STATUS: [{ STATUS: "S" }], VERSION: [{ Type: "Antminer S21" }] };
    const summary = { STATUS: [{ STATUS: "S" }], SUMMARY: [{ "GHS 5s": "100000", Elapsed: 3600 }] };
    assert.equal(normalizeMiner({ at: 0, version, summary, models: c }).powerW, 1750); // 3,500 W × 100/200
    assert.equal(normalizeMiner({ at: 0, version, summary, models: c, nominalW: 4000 }).powerW, 2000);
    assert.equal(normalizeMiner({ at: 0, version, summary }).powerW, null);
  });
});

describe("model files: problems", () => {
  let n = 0;
  function dirWith(files: Record<string, string>): string {
    const dir = join(tmp, `d${n++}`);
    mkdirSync(dir, { recursive: true });
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return dir;
  }
  const good = readFileSync(join(repo, "config/models/avalon.yaml"), "utf8");

  test("a bad file names its file, line, path and problem; the good files still load", async () => {
    const bad = [
      "vendor: Test",
      "source: a test",
      "models:",
      "  - name: Test One",
      "    nominalW: lots",
      "    nominalThs: 100",
      "    powerLimitW: { min: 3000, max: 2000 }",
      "    sleepW: 30",
      "    wakeUpS: 300",
      "    colour: red",
    ].join("\n");
    const dir = dirWith({ "a-good.yaml": good, "bad.yaml": bad });
    const problems: Problem[] = [];
    const models = await loadModelFiles(problems, dir);
    assert.deepEqual(
      models.map((m) => m.name),
      ["Avalon A1366", "Avalon A1466"],
    );
    const lines = problems.map((p) => formatProblem("site.yaml", p));
    const file = join(dir, "bad.yaml");
    assert.deepEqual(lines.sort(), [
      `${file}:10:13: models[0].colour: unknown key; expected one of: name, names, nominalW, nominalThs, powerLimitW, sleepW, lowPowerW, wakeUpS, hotChipC, hotBoardC, note`,
      `${file}:5:15: models[0].nominalW: expected number, got "lots"`,
      `${file}:7:25: models[0].powerLimitW.min: min must not be above max`,
    ]);
  });

  test("a syntax error, and two models claiming one name, are problems of their file", async () => {
    const clash = good.replace("names: [AvalonMiner 1466, A1466, Avalon 1466]", "names: [AvalonMiner 1366]");
    const dir = dirWith({ "broken.yaml": "models: [\n", "clash.yaml": clash });
    const problems: Problem[] = [];
    await loadModelFiles(problems, dir);
    const text = problems.map((p) => formatProblem("site.yaml", p)).join("\n");
    assert.match(text, /broken\.yaml:\d+:\d+: invalid YAML/);
    assert.match(
      text,
      /clash\.yaml:\d+:\d+: models\[1\]: the name "AvalonMiner 1366" is also the Avalon A1366's \(.*clash\.yaml\)/,
    );
  });

  const minimal = () => YAML.parse(readFileSync(join(repo, "test/fixtures/config/minimal.yaml"), "utf8"));
  function siteFile(extra: Record<string, unknown>): string {
    const dir = join(tmp, `s${n++}`);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, "site.yaml");
    writeFileSync(file, YAML.stringify({ ...minimal(), ...extra }));
    return file;
  }

  test("loadConfig: a bad shipped file fails the load (exit 2) naming the model file", async () => {
    const dir = dirWith({ "bad.yaml": "vendor: X\nsource: y\nmodels: []\n" });
    const err = await loadConfig(siteFile({}), { modelsDir: dir }).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof ConfigError);
    assert.deepEqual(
      err.problems.map((p) => formatProblem(err.file, p)),
      [`${join(dir, "bad.yaml")}:3:9: models: must have at least 1 item`],
    );
  });

  test("a site's own models come first: they override a shipped model by its name", async () => {
    const own = {
      name: "My S19j Pro",
      names: ["Antminer S19j Pro"],
      nominalW: 3000,
      nominalThs: 100,
      powerLimitW: { min: 1200, max: 3100 },
      sleepW: 20,
      wakeUpS: 120,
    };
    const { config } = await loadConfig(siteFile({ models: [own] }));
    const c = new ModelCatalog(config.models);
    assert.equal(c.find("Antminer S19j Pro")?.name, "My S19j Pro");
    assert.equal(c.find("Antminer S19j Pro")?.origin, "site.yaml, models[0]");
    assert.equal(c.find("Antminer S21")?.origin, "config/models/antminer.yaml");
  });

  test("a bad model of the site's own is a problem at its path and line in the config", async () => {
    const file = siteFile({
      models: [{ name: "Odd", nominalW: 3000, nominalThs: 100, sleepW: 20, wakeUpS: -5 }],
    });
    const err = await loadConfig(file).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof ConfigError);
    assert.equal(err.problems.length, 1);
    assert.equal(err.problems[0]!.path, "models[0].wakeUpS");
    assert.match(
      formatProblem(err.file, err.problems[0]!),
      /site\.yaml:\d+:\d+: models\[0\]\.wakeUpS: must be at least 0/,
    );
  });
});

describe("a power limit outside the model's range is refused before it is sent", () => {
  function reading(over: Partial<MinerReading>): MinerReading {
    return { ...failedReading(0, "hashing", null as unknown as string), reason: null, ...over };
  }
  async function driver() {
    let reads = 0;
    let writes = 0;
    const spec: DialectSpec = {
      name: "braiins",
      capabilities: () => ["sleep", "wake", "setPowerLimit", "reboot"],
      read: async () => {
        reads++;
        return reading({ powerW: 3000, powerLimitW: 3000, model: "Antminer S19j Pro" });
      },
      write: async () => {
        writes++;
      },
    };
    const d = new MinerDriver(
      spec,
      { host: "x", port: 1, models: await shipped() },
      { confirm: { confirmTimeoutMs: 50, pollMs: 5, retries: 1 } },
    );
    return { d, reads: () => reads, writes: () => writes };
  }

  test("below the minimum: a failed outcome naming the model and its file, nothing written", async () => {
    const { d, writes } = await driver();
    const out = await d.setPowerLimit(900);
    assert.equal(out.ok, false);
    assert.equal(out.attempts, 0);
    assert.equal(
      out.reason,
      "power limit 900 W is below the Antminer S19j Pro's minimum 2,000 W (config/models/antminer.yaml)",
    );
    assert.equal(writes(), 0);
  });

  test("with the poller's reading in hand nothing goes on the wire at all, not even a read", async () => {
    const { d, reads, writes } = await driver();
    const given = reading({ powerW: 3000, model: "Antminer S19j Pro" });
    const out = await d.write("setPowerLimit", 3500, { before: given });
    assert.match(out.reason ?? "", /above the Antminer S19j Pro's maximum 3,400 W/);
    assert.equal(reads(), 0);
    assert.equal(writes(), 0);
  });

  test("inside the range it is sent; a miner of an unknown model is not checked", async () => {
    const { d, writes } = await driver();
    await d.setPowerLimit(2500);
    assert.equal(writes(), 1);
    const unknown = new MinerDriver(
      {
        name: "braiins",
        capabilities: () => ["setPowerLimit"],
        read: async () => reading({ powerW: 3000, model: "Antminer L7" }),
        write: async () => {},
      },
      { host: "x", port: 1, models: await shipped() },
      { confirm: { confirmTimeoutMs: 20, pollMs: 5, retries: 1 } },
    );
    const out = await unknown.setPowerLimit(900);
    assert.doesNotMatch(out.reason ?? "", /minimum/);
    assert.notEqual(out.attempts, 0);
  });
});

describe("the planner's view of a miner takes its model", () => {
  test("range narrowed by the model (never widened), wake-up time carried; an unknown model adds nothing", async () => {
    const file = join(tmp, "view.yaml");
    writeFileSync(file, readFileSync(join(repo, "test/fixtures/config/minimal.yaml")));
    const { config } = await loadConfig(file);
    const state = new SiteState(config);
    const [a, b, c] = config.miners.map((m) => m.id);
    const at = Date.now();
    const base = { ...failedReading(at, "hashing", null as unknown as string), reason: null, powerW: 3000 };
    // a firmware floor lower than the model's, a ceiling tighter than the model's
    state.setMinerReading(a!, {
      ...base,
      model: "Antminer S19j Pro",
      minPowerLimitW: 1500,
      maxPowerLimitW: 3200,
    });
    state.setMinerReading(b!, { ...base, model: "WhatsMiner M50S VH30" });
    state.setMinerReading(c!, { ...base, model: "Antminer L7" });
    const view = planView(state, () => undefined, { now: at });
    const of = (id: string) => view.miners.find((m) => m.id === id)!;
    assert.deepEqual([of(a!).minPowerLimitW, of(a!).maxPowerLimitW, of(a!).wakeUpS], [2000, 3200, 300]);
    assert.deepEqual([of(b!).minPowerLimitW, of(b!).maxPowerLimitW, of(b!).wakeUpS], [1650, 3276, 180]);
    assert.deepEqual([of(c!).minPowerLimitW, of(c!).maxPowerLimitW, of(c!).wakeUpS], [null, null, null]);
  });
});
