// `scan` and `probe miner` against the simulated site on loopback.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { parse } from "yaml";
import { foldRanges, scanHosts } from "../../agent/cli/scan.ts";
import { startSimSite } from "../../sim/site.ts";
import { cli } from "../helpers/cli.ts";

describe("scan and probe against the simulator", () => {
  let sim: Awaited<ReturnType<typeof startSimSite>>;
  before(async () => {
    sim = await startSimSite({
      miners: Array.from({ length: 12 }, (_, i) => ({
        id: `s${i + 1}`,
        host: `127.44.0.${i + 1}`,
        port: 4028,
      })),
      meters: [],
      seed: 3,
    });
    sim.sleepMiner("s2");
  });
  after(() => sim.stop());

  test("scanHosts finds exactly the live miners, in address order, with the probe shape", async () => {
    const hosts = Array.from({ length: 30 }, (_, i) => `127.44.0.${i + 1}`);
    const found = await scanHosts(hosts, { port: 4028, concurrency: 8, timeoutMs: 500 });
    assert.deepEqual(
      found.map((m) => m.host),
      hosts.slice(0, 12),
    );
    const m = found[0]!;
    for (const key of [
      "host",
      "port",
      "dialect",
      "model",
      "firmware",
      "state",
      "hashrateThs",
      "powerW",
      "powerLimitW",
      "boardTempsC",
      "chipTempMaxC",
      "fanRpm",
      "pools",
      "uptimeS",
      "capabilities",
    ]) {
      assert.ok(key in m, `missing ${key}`);
    }
    // the sim's stock miners run bmminer: stock Bitmain, told from its version reply
    assert.equal(m.dialect, "antminer");
    assert.equal(found[1]?.state, "sleeping");
  });

  test("scan --yaml prints a config snippet that folds ranges", async () => {
    const res = await cli(["scan", "127.44.0.1-20", "--yaml", "--timeout", "500"]);
    assert.equal(res.code, 0, res.err);
    assert.deepEqual(parse(res.out), { miners: [{ hosts: "127.44.0.1-127.44.0.12", dialect: "antminer" }] });
    assert.match(res.err, /scanned 20 hosts .*: 12 miners/);
  });

  test("scan --json is an array of miners; a table by default", async () => {
    const json = await cli(["scan", "127.44.0.10-14", "--json", "--timeout", "500"]);
    assert.equal((JSON.parse(json.out) as unknown[]).length, 3);
    const table = await cli(["scan", "127.44.0.1", "--timeout", "500"]);
    assert.match(table.out, /^host\s+dialect\s+model\s+state/);
    assert.match(table.out, /127\.44\.0\.1\s+antminer\s+Antminer/);
  });

  test("probe miner: exit 0 with the documented JSON shape; exit 1 when nothing answers", async () => {
    const ok = await cli(["probe", "miner", "127.44.0.3:4028", "--json"]);
    assert.equal(ok.code, 0, ok.err);
    const j = JSON.parse(ok.out) as Record<string, unknown>;
    assert.equal(j.host, "127.44.0.3");
    assert.equal(j.state, "hashing");
    assert.ok((j.hashrateThs as number) > 50);
    assert.deepEqual(j.capabilities, []);
    const dead = await cli(["probe", "miner", "127.44.0.99", "--timeout", "300"]);
    assert.equal(dead.code, 1);
    assert.match(dead.out, /unreachable/);
  });

  test("bad usage exits 2 without a stack trace", async () => {
    for (const args of [["scan"], ["scan", "10.0.0.0/33"], ["probe", "gpu"], ["probe", "miner", "a", "b"]]) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.err}`);
      assert.doesNotMatch(r.err, /\.ts:\d+/);
    }
  });
});

test("foldRanges folds consecutive addresses", () => {
  assert.deepEqual(foldRanges(["10.0.0.3", "10.0.0.1", "10.0.0.2", "10.0.0.9", "10.0.1.0"]), [
    "10.0.0.1-10.0.0.3",
    "10.0.0.9",
    "10.0.1.0",
  ]);
});
