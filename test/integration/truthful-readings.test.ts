// What real cgminer and bfgminer show, served by the simulator with their own
// field sets, and what the agent makes of it: stopped and board-less miners are
// faulted at 0 TH/s with no nameplate power; bfgminer is named bfgminer; a host
// that answers HTTP, or closes at once (an API allow-list), is said to be so by
// probe and scan; a forced dialect's capabilities are confirmed at first contact.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createMiner } from "../../drivers/cgminer/miner.ts";
import { startSimSite } from "../../sim/site.ts";
import { cli } from "../helpers/cli.ts";
import { testPort } from "../helpers/ports.ts";

const H = {
  bfg: "127.109.1.1",
  cg: "127.109.1.2",
  stock: "127.109.1.3",
  http: "127.109.1.4",
  acl: "127.109.1.5",
  escapes: "127.109.1.6",
};

describe("truthful readings against cgminer 4.11 and bfgminer 5.5 field sets", () => {
  let sim: Awaited<ReturnType<typeof startSimSite>>;
  before(async () => {
    sim = await startSimSite({
      miners: [
        { id: "bfg", host: H.bfg, port: 4028, program: "bfgminer" },
        { id: "cg", host: H.cg, port: 4028, program: "cgminer" },
        { id: "stock", host: H.stock, port: 4028 },
        { id: "http", host: H.http, port: 4028 },
        { id: "acl", host: H.acl, port: 4028 },
      ],
      meters: [],
      seed: 23,
    });
    sim.cgminer.setMisbehaviour("http", { http: true });
    sim.cgminer.setMisbehaviour("acl", { closeSilently: true });
  });
  after(() => sim.stop());

  const read = (host: string, extra: Parameters<typeof createMiner>[0] = { host, port: 4028 }) =>
    createMiner({ ...extra, host, port: 4028 }, "auto").read();

  test("bfgminer hashing: named bfgminer, hashrate from MHS 20s", async () => {
    const r = await read(H.bfg);
    assert.equal(r.state, "hashing");
    assert.equal(r.firmware, "bfgminer 5.5.0-34-g866fd36f");
    const ths = sim.model.hashrateThs("bfg");
    assert.ok(Math.abs(r.hashrateThs! - ths) / ths < 0.05, `${r.hashrateThs} vs ${ths} TH/s`);
  });

  test("bfgminer with every device disabled: faulted, 0 TH/s, no nameplate power", async () => {
    sim.model.setHashboards("bfg", "disabled");
    try {
      const r = await read(H.bfg, { host: H.bfg, port: 4028, nominalW: 3500 });
      assert.equal(r.state, "faulted");
      assert.match(r.reason!, /^no hashboard working \(\d+ disabled of \d+\)$/);
      assert.equal(r.hashrateThs, 0);
      assert.equal(r.powerW, 0);
    } finally {
      sim.model.setHashboards("bfg", "ok");
    }
  });

  test("cgminer with no devices (No ASCs): faulted, no hashboards detected, not sleeping", async () => {
    sim.model.setHashboards("cg", "none");
    try {
      const r = await read(H.cg);
      assert.equal(r.state, "faulted");
      assert.equal(r.reason, "no hashboards detected");
      assert.equal(r.hashrateThs, 0);
    } finally {
      sim.model.setHashboards("cg", "ok");
    }
    assert.equal((await read(H.cg)).state, "hashing");
  });

  test("stock bmminer with dead hashboards: faulted", async () => {
    sim.model.setHashboards("stock", "dead");
    try {
      const r = await read(H.stock);
      assert.equal(r.state, "faulted");
      assert.match(r.reason!, /dead/);
    } finally {
      sim.model.setHashboards("stock", "ok");
    }
  });

  test("an HTTP server as a miner: faulted not-a-cgminer-api, the bytes escaped; probe exits 1", async () => {
    const r = await read(H.http);
    assert.equal(r.state, "faulted");
    assert.match(
      r.reason!,
      /^WK_CGMINER_NOT_CGMINER_API: not-a-cgminer-api: the host answers with "HTTP\/1\.1 400 Bad Request\\r\\n/,
    );
    assert.doesNotMatch(r.reason!, /[\r\n]/);
    const p = await cli(["probe", "miner", `${H.http}:4028`, "--json"]);
    assert.equal(p.code, 1, p.err);
    const j = JSON.parse(p.out) as { usable: boolean; state: string };
    assert.equal(j.usable, false);
    assert.equal(j.state, "faulted");
  });

  test("a miner that closes at once (API allow-list): probe says so and exits 1", async () => {
    const p = await cli(["probe", "miner", `${H.acl}:4028`]);
    assert.equal(p.code, 1);
    assert.match(
      p.out,
      /answers but closes at once: is the gateway in the miner's API allow-list \(--api-allow\)\?/,
    );
  });

  test("scan lists the HTTP server and the allow-list refusal apart and leaves them out of the snippet", async () => {
    const range = "127.109.1.1-127.109.1.6";
    const yaml = await cli(["scan", range, "--yaml", "--timeout", "500"]);
    assert.equal(yaml.code, 0, yaml.err);
    // bfgminer and cgminer 4.11 are stock cgminer; the bmminer one is a stock Antminer
    const hostsLines = yaml.out.split("\n").filter((l) => l.includes("hosts:"));
    assert.deepEqual(
      hostsLines.map((l) => l.trim()),
      ["- hosts: 127.109.1.1-127.109.1.2", "- hosts: 127.109.1.3"],
    );
    assert.match(yaml.out, /hosts: 127\.109\.1\.1-127\.109\.1\.2\n\s+dialect: cgminer\n/);
    assert.match(yaml.out, /hosts: 127\.109\.1\.3\n\s+dialect: antminer\n/);
    assert.match(yaml.out, /# left out: 127\.109\.1\.4: WK_CGMINER_NOT_CGMINER_API/);
    assert.match(yaml.out, /# left out: 127\.109\.1\.5: WK_CGMINER_EMPTY_REPLY: answers but closes at once/);
    assert.match(yaml.err, /3 miners, 2 answering but not readable/);
    const json = JSON.parse((await cli(["scan", range, "--json", "--timeout", "500"])).out) as Array<{
      host: string;
      usable: boolean;
    }>;
    assert.deepEqual(
      json.map((m) => [m.host, m.usable]),
      [
        [H.bfg, true],
        [H.cg, true],
        [H.stock, true],
        [H.http, false],
        [H.acl, false],
      ],
    );
    const table = await cli(["scan", range, "--timeout", "500"]);
    assert.match(
      table.out,
      /answering on port 4028 but not readable as a miner:\n127\.109\.1\.4 {2}WK_CGMINER_NOT_CGMINER_API/,
    );
  });

  test("a forced LuxOS dialect on a stock cgminer: no capability survives first contact, and probe says why", async () => {
    const p = await cli(["probe", "miner", `${H.stock}:4028`, "--dialect", "luxos", "--json"]);
    const j = JSON.parse(p.out) as {
      capabilities: string[];
      withdrawn: Array<{ capability: string; reason: string }>;
    };
    assert.deepEqual(j.capabilities, []);
    assert.deepEqual(
      j.withdrawn.map((w) => w.capability),
      ["sleep", "wake", "setPowerLimit", "reboot", "locate"],
    );
    assert.match(j.withdrawn[0]!.reason, /no LuxOS session: logon answered Invalid command \(Code 14\)/);
    const human = await cli(["probe", "miner", `${H.stock}:4028`, "--dialect", "avalon"]);
    assert.match(human.out, /^can {11}read only$/m);
    assert.match(human.out, /^cannot {8}sleep: ascset denied to this gateway/m);
  });

  test("bfgminer with web credentials under dialect auto: stock cgminer (not Bitmain), nothing declared, a write refused at once", async () => {
    const miner = createMiner(
      {
        host: H.bfg,
        port: 4028,
        webPort: await testPort(H.bfg),
        credentials: { username: "root", password: "root" },
      },
      "auto",
    );
    await miner.read();
    await miner.confirmed();
    assert.equal(miner.dialect, "cgminer");
    assert.deepEqual([...miner.capabilities], []);
    assert.deepEqual(miner.withdrawn, []);
    const started = Date.now();
    const out = await miner.write("sleep");
    assert.equal(out.ok, false);
    assert.equal(out.attempts, 0);
    assert.match(out.reason ?? "", /^cgminer dialect cannot sleep$/);
    assert.ok(Date.now() - started < 1000, "refused at once, not after a timeout");
    await miner.close();
  });

  test("probe of a dead host: unreachable, capabilities unknown (not 'read only')", async () => {
    const p = await cli(["probe", "miner", "127.109.1.99:4028", "--timeout", "300"]);
    assert.equal(p.code, 1);
    assert.match(p.out, /^can {11}unknown \(the miner did not answer\)$/m);
  });
});
