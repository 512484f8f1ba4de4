// Protocol conformance of the simulated cgminer/bmminer API over real loopback
// sockets, using raw node:net (no wattkeeper driver), checked against the framing
// of the recorded bfgminer fixtures.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { allocateAddresses } from "../../sim/addresses.ts";
import { type CgminerSim, startCgminerSim } from "../../sim/cgminer/server.ts";
import { PowerModel } from "../../sim/power-model.ts";
import { recorded } from "../helpers/fixtures.ts";

// recorded replies of a real cgminer-API miner (test/fixtures/cgminer-api/bfgminer-5.5.0)
const fixture = (file: string) => recorded(file.replace(/\.bin$/, "")).reply;

/** Sends the chunks (pausing between them), reads to EOF; `closed` says the server ended the stream. */
function rawRequest(
  host: string,
  port: number,
  chunks: Array<string | Buffer>,
  gapMs = 30,
): Promise<{ data: Buffer; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    const parts: Buffer[] = [];
    sock.setTimeout(3000, () => sock.destroy(new Error("timeout")));
    sock.on("data", (d) => parts.push(d));
    sock.on("end", () => resolve({ data: Buffer.concat(parts), closed: true }));
    sock.on("error", reject);
    sock.on("connect", async () => {
      for (let i = 0; i < chunks.length; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, gapMs));
        sock.write(chunks[i]!);
      }
    });
  });
}

function connectOutcome(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    sock.on("connect", () => {
      sock.destroy();
      resolve("connected");
    });
    sock.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? "error"));
  });
}

function endsWithOneNul(b: Buffer): boolean {
  return b.length > 1 && b[b.length - 1] === 0 && b[b.length - 2] !== 0 && b.indexOf(0) === b.length - 1;
}

function parseJsonReply(b: Buffer): Record<string, unknown> {
  assert.ok(endsWithOneNul(b), "reply ends with exactly one NUL");
  return JSON.parse(b.subarray(0, -1).toString("utf8")) as Record<string, unknown>;
}

type Obj = Record<string, unknown>;
const arr = (v: unknown) => v as Obj[];

const HOST = "127.61.0.1";
const PORT = 4028;
const COMMANDS = ["version", "summary", "devs", "pools", "stats", "devdetails", "config"] as const;
const SECTION: Record<(typeof COMMANDS)[number], string> = {
  version: "VERSION",
  summary: "SUMMARY",
  devs: "DEVS",
  pools: "POOLS",
  stats: "STATS",
  devdetails: "DEVDETAILS",
  config: "CONFIG",
};

describe("sim cgminer API", () => {
  let model: PowerModel;
  let sim: CgminerSim;
  const t0 = 1_790_000_000_000;
  before(async () => {
    model = new PowerModel({ seed: 7, now: () => t0 });
    model.addMiner("m1", "antminer-s19j-pro");
    model.addMiner("m2", "antminer-s21");
    model.addMiner("m3", "antminer-s19-xp");
    sim = await startCgminerSim({
      model,
      miners: [
        { id: "m1", host: HOST, port: PORT },
        { id: "m2", host: "127.61.0.2", port: PORT, statsQuirk: false },
        { id: "m3", host: "127.61.0.3", port: PORT },
      ],
    });
  });
  after(async () => {
    await sim.stop();
  });

  for (const cmd of COMMANDS) {
    test(`JSON ${cmd}: STATUS envelope like the fixtures, one NUL, then close`, async () => {
      const { data, closed } = await rawRequest("127.61.0.2", PORT, [`{"command":"${cmd}","parameter":""}`]);
      assert.ok(closed);
      const reply = parseJsonReply(data);
      const fx = parseJsonReply(fixture(`${cmd}.json.bin`));
      assert.deepEqual(
        Object.keys(reply),
        Object.keys(fx).map((k) => (k === "DEVS" ? SECTION[cmd] : k)),
      );
      const status = arr(reply.STATUS)[0]!;
      assert.deepEqual(Object.keys(status), Object.keys(arr(fx.STATUS)[0]!));
      assert.equal(status.STATUS, "S");
      assert.equal(status.When, Math.floor(t0 / 1000));
      assert.equal(status.Description, "cgminer 4.11.1");
      assert.equal(status.Code, arr(fx.STATUS)[0]!.Code, "same message code as real cgminer");
      assert.equal(reply.id, 1);
      assert.ok(arr(reply[SECTION[cmd]]).length >= 1);
    });

    test(`text ${cmd}: fixture separators, one NUL, then close`, async () => {
      const { data, closed } = await rawRequest(HOST, PORT, [cmd]);
      assert.ok(closed);
      assert.ok(endsWithOneNul(data));
      const text = data.subarray(0, -1).toString("utf8");
      const fx = fixture(`${cmd}.text.bin`).subarray(0, -1).toString("utf8");
      assert.match(text, /^STATUS=S,When=\d+,Code=\d+,Msg=[^,|]+,Description=cgminer 4\.11\.1\|/);
      assert.ok(text.endsWith("|"));
      // same header shape as the fixture: "SUMMARY,Elapsed=" vs "PGA=0,Name="
      const secondSection = (s: string) => s.split("|")[1]!.split(",")[0]!;
      const fxHead = secondSection(fx);
      if (fxHead.includes("=")) assert.match(secondSection(text), /^[A-Z]+=\d+$|^[A-Za-z]+=/);
      else assert.equal(secondSection(text), fxHead);
    });
  }

  test("summary carries bmminer's field names and types", async () => {
    const reply = parseJsonReply((await rawRequest(HOST, PORT, ['{"command":"summary"}'])).data);
    const s = arr(reply.SUMMARY)[0]!;
    assert.equal(typeof s["GHS 5s"], "string", "GHS 5s is a string on bmminer");
    assert.equal(typeof s["GHS av"], "number");
    for (const k of ["Elapsed", "Accepted", "Rejected", "Hardware Errors"])
      assert.equal(typeof s[k], "number", k);
    const ths = Number(s["GHS 5s"]) / 1000;
    assert.ok(Math.abs(ths - 104) < 104 * 0.05, `S19j Pro near 104 TH/s, got ${ths}`);
    const text = (await rawRequest(HOST, PORT, ["summary"])).data.toString();
    assert.match(text, /\|SUMMARY,Elapsed=\d+,GHS 5s=\d+\.\d\d,GHS av=\d+\.\d\d,/);
  });

  test("version reports the Antminer type", async () => {
    const v = arr(
      parseJsonReply((await rawRequest("127.61.0.2", PORT, ['{"command":"version"}'])).data).VERSION,
    )[0]!;
    assert.equal(v.Type, "Antminer S21");
    for (const k of ["CGMiner", "API", "Miner"]) assert.equal(typeof v[k], "string", k);
  });

  test("stats: Antminer's }{ quirk when on; STATS[1] has fans, temps, chains", async () => {
    const raw = (await rawRequest(HOST, PORT, ['{"command":"stats"}'])).data;
    const body = raw.subarray(0, -1).toString();
    assert.ok(body.includes("}{"), "quirk present");
    assert.throws(() => JSON.parse(body));
    const stats = JSON.parse(body.replace("}{", "},{")) as Obj;
    const [ver, st] = arr(stats.STATS);
    assert.equal(ver!.Type, "Antminer S19j Pro");
    for (const k of ["fan1", "fan4", "temp1", "temp3", "temp2_1", "chain_rate1", "chain_acn3", "Type"]) {
      assert.ok(k in st!, k);
    }
    assert.equal(typeof st!.chain_rate1, "string");
    assert.equal(st!.chain_acn1, 126);
  });

  test("stats without the quirk is valid JSON", async () => {
    const reply = parseJsonReply((await rawRequest("127.61.0.2", PORT, ['{"command":"stats"}'])).data);
    assert.equal(arr(reply.STATS).length, 2);
  });

  test("multi-command summary+pools: an array per command (JSON), CMD= sections (text)", async () => {
    const reply = parseJsonReply(
      (await rawRequest(HOST, PORT, ['{"command":"summary+pools","parameter":""}'])).data,
    );
    const fx = parseJsonReply(fixture("summary+pools.json.bin"));
    assert.deepEqual(Object.keys(reply), Object.keys(fx));
    assert.ok(Array.isArray(reply.summary) && Array.isArray(reply.pools));
    const sum = arr(reply.summary)[0]!;
    assert.deepEqual(Object.keys(sum), ["STATUS", "SUMMARY", "id"]);
    assert.equal(arr(sum.STATUS)[0]!.Code, 11);
    assert.equal(arr(arr(reply.pools)[0]!.STATUS)[0]!.Code, 7);

    const text = (await rawRequest(HOST, PORT, ["summary+pools"])).data;
    assert.ok(endsWithOneNul(text));
    assert.match(text.toString(), /^CMD=summary\|STATUS=S,[^|]*\|SUMMARY,[^|]*\|CMD=pools\|STATUS=S,/);
  });

  test("joined command with a bad member: that member gets its own E", async () => {
    const reply = parseJsonReply(
      (await rawRequest(HOST, PORT, ['{"command":"summary+nosuch+summary"}'])).data,
    );
    assert.deepEqual(Object.keys(reply), ["summary", "nosuch", "id"]);
    assert.equal(arr(arr(reply.nosuch)[0]!.STATUS)[0]!.Code, 14);
  });

  test("unknown command → E 14 Invalid command (JSON and text, as the fixtures)", async () => {
    const reply = parseJsonReply((await rawRequest(HOST, PORT, ['{"command":"nosuchcmd"}'])).data);
    const fx = parseJsonReply(fixture("nosuchcmd.json.bin"));
    const { When: _a, Description: _b, ...st } = arr(reply.STATUS)[0]!;
    const { When: _c, Description: _d, ...fst } = arr(fx.STATUS)[0]!;
    assert.deepEqual(st, fst);
    assert.deepEqual(Object.keys(reply), ["STATUS", "id"]);
    const text = (await rawRequest(HOST, PORT, ["nosuchcmd"])).data.toString();
    assert.match(text, /^STATUS=E,When=\d+,Code=14,Msg=Invalid command,Description=cgminer 4\.11\.1\|\0$/);
  });

  test("invalid JSON → E 23; half-closed incomplete JSON → E 23", async () => {
    const reply = parseJsonReply((await rawRequest(HOST, PORT, ['{"command":summary}'])).data);
    assert.equal(arr(reply.STATUS)[0]!.STATUS, "E");
    assert.equal(arr(reply.STATUS)[0]!.Code, 23);
    const half = await new Promise<Buffer>((resolve, reject) => {
      const s = net.connect({ host: HOST, port: PORT }, () => s.end('{"command":'));
      const parts: Buffer[] = [];
      s.on("data", (d) => parts.push(d));
      s.on("end", () => resolve(Buffer.concat(parts)));
      s.on("error", reject);
    });
    assert.equal(arr(parseJsonReply(half).STATUS)[0]!.Code, 23);
  });

  test("a JSON request split across two TCP writes is answered once complete", async () => {
    const { data } = await rawRequest(HOST, PORT, ['{"command":"sum', 'mary","parameter":""}'], 60);
    const reply = parseJsonReply(data);
    assert.equal(arr(reply.STATUS)[0]!.Code, 11);
  });

  test("privileged commands are denied on the stock read-only API", async () => {
    const reply = parseJsonReply((await rawRequest(HOST, PORT, ['{"command":"restart"}'])).data);
    assert.equal(arr(reply.STATUS)[0]!.Code, 45);
    const check = parseJsonReply(
      (await rawRequest(HOST, PORT, ['{"command":"check","parameter":"summary"}'])).data,
    );
    assert.deepEqual(arr(check.CHECK)[0], { Exists: "Y", Access: "Y" });
  });

  test("a sleeping miner answers with ~0 hashrate; waking restores it", async () => {
    model.sleep("m3");
    const s = arr(
      parseJsonReply((await rawRequest("127.61.0.3", PORT, ['{"command":"summary"}'])).data).SUMMARY,
    )[0]!;
    assert.equal(Number(s["GHS 5s"]), 0);
    const st = arr(
      JSON.parse(
        (await rawRequest("127.61.0.3", PORT, ['{"command":"stats"}'])).data
          .subarray(0, -1)
          .toString()
          .replace("}{", "},{"),
      ).STATS,
    )[1]!;
    assert.equal(Number(st.chain_rate1), 0);
    assert.ok((st.temp2_1 as number) < 40, "cool while asleep");
    model.wake("m3");
    const w = arr(
      parseJsonReply((await rawRequest("127.61.0.3", PORT, ['{"command":"summary"}'])).data).SUMMARY,
    )[0]!;
    assert.ok(Number(w["GHS 5s"]) > 100_000);
  });

  test("a faulted miner refuses connections; clearing the fault reopens it", async () => {
    model.setFaulted("m3", true);
    assert.equal(await connectOutcome("127.61.0.3", PORT), "ECONNREFUSED");
    await sim.settled();
    assert.equal(sim.isListening("m3"), false);
    model.setFaulted("m3", false);
    await sim.settled();
    assert.equal(sim.isListening("m3"), true);
    const { data } = await rawRequest("127.61.0.3", PORT, ["version"]);
    assert.match(data.toString(), /Type=Antminer S19 XP/);
  });
});

describe("sim cgminer API at scale", () => {
  test("200 miners on distinct 127.x addresses answer concurrently; stop() leaves nothing open", async () => {
    const model = new PowerModel({ seed: 3 });
    const hosts = allocateAddresses("127.61.1.250", 200); // crosses a /24 boundary, skipping .255/.0
    const miners = hosts.map((host, i) => ({ id: `s${i}`, host, port: PORT }));
    const sim = await startCgminerSim({ miners, model });
    try {
      const replies = await Promise.all(
        hosts.map((h) => rawRequest(h, PORT, ['{"command":"summary+stats"}']).then((r) => r.data)),
      );
      for (const r of replies) {
        const body = r.subarray(0, -1).toString().replace("}{", "},{");
        const reply = JSON.parse(body) as Obj;
        assert.equal(arr(arr(reply.summary)[0]!.STATUS)[0]!.Code, 11);
      }
      // an open connection at stop() time is destroyed too
      const idle = net.connect({ host: hosts[0]!, port: PORT });
      idle.on("error", () => undefined);
      await new Promise((r) => idle.once("connect", r));
      const closed = new Promise((r) => idle.once("close", r));
      await sim.stop();
      await closed;
    } finally {
      await sim.stop();
    }
    for (const h of [hosts[0]!, hosts[199]!]) assert.equal(await connectOutcome(h, PORT), "ECONNREFUSED");
  });
});
