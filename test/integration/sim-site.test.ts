// The whole simulated site (miners + meters coupled by one power model) and the
// stand-alone `wattkeeper sim` command, over real loopback sockets.
import assert from "node:assert/strict";
import net from "node:net";
import { describe, test } from "node:test";
import modbusSerial from "modbus-serial";
import { pino } from "pino";
import { allocateAddresses } from "../../sim/addresses.ts";
import { runSimCommand } from "../../sim/cli.ts";
import { loadMeterProfile } from "../../sim/profiles.ts";
import { startSimSite } from "../../sim/site.ts";

// modbus-serial is CommonJS: its typings describe the class as `.default`
const ModbusRTU = modbusSerial.default;

function ask(host: string, port: number, req: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port }, () => s.write(req));
    const parts: Buffer[] = [];
    s.setTimeout(3000, () => s.destroy(new Error("timeout")));
    s.on("data", (d) => parts.push(d));
    s.on("end", () => resolve(Buffer.concat(parts).toString()));
    s.on("error", reject);
  });
}

function connectOutcome(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.on("connect", () => {
      s.destroy();
      resolve("connected");
    });
    s.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
  });
}

async function readPowerW(host: string, port: number, unitId: number): Promise<number> {
  const c = new ModbusRTU();
  await c.connectTCP(host, { port });
  c.setID(unitId);
  c.setTimeout(1000);
  try {
    const r = await c.readInputRegisters(0x34, 2);
    return r.buffer.readFloatBE(0);
  } finally {
    await new Promise<void>((res) => c.close(() => res()));
  }
}

const ghs5s = (summaryText: string) => Number(/GHS 5s=([\d.]+)/.exec(summaryText)?.[1]);

describe("sim site", () => {
  test("miners and meters are coupled: sleeping miners lowers the site meter; faults refuse connections", async () => {
    const profile = await loadMeterProfile("sdm630");
    const hosts = allocateAddresses("127.63.0.1", 10);
    const site = await startSimSite({
      miners: hosts.map((host, i) => ({ id: `m${i}`, host, port: 4028 })),
      meters: [
        { id: "pcc", role: "site", host: "127.63.1.1", port: 5020, unitId: 1, profile },
        { id: "mining", role: "mining", host: "127.63.1.1", port: 5021, unitId: 1, profile },
        { id: "aux", role: "aux", host: "127.63.1.1", port: 5022, unitId: 1, profile },
      ],
      seed: 4,
      auxW: 8000,
      models: ["antminer-s21"],
    });
    try {
      const full = await readPowerW("127.63.1.1", 5020, 1);
      assert.equal(full, Math.fround(site.model.totalW()));
      assert.ok(Math.abs(full - (10 * 3500 + 8000)) < 10 * 3500 * 0.03 + 1, `${full} W`);
      assert.equal(await readPowerW("127.63.1.1", 5022, 1), 8000);

      for (let i = 0; i < 5; i++) assert.equal(site.sleepMiner(`m${i}`), true);
      const half = await readPowerW("127.63.1.1", 5020, 1);
      assert.ok(full - half > 5 * 3500 * 0.95, `drop ${full - half}`);
      assert.equal(await readPowerW("127.63.1.1", 5021, 1), Math.fround(site.model.minersW()));
      assert.equal(site.meters.get("pcc")!.lastPowerW, site.model.totalW());
      assert.equal(ghs5s(await ask(hosts[0]!, 4028, "summary")), 0);
      assert.ok(ghs5s(await ask(hosts[9]!, 4028, "summary")) > 190_000);

      assert.equal(site.wakeMiner("m0"), true);
      assert.ok(ghs5s(await ask(hosts[0]!, 4028, "summary")) > 190_000);

      assert.equal(await site.setFaulted("m1", true), true);
      assert.equal(await connectOutcome(hosts[1]!, 4028), "ECONNREFUSED");
      await site.setFaulted("m1", false);
      assert.match(await ask(hosts[1]!, 4028, "version"), /Type=Antminer S21/);
    } finally {
      await site.stop();
    }
    assert.equal(await connectOutcome(hosts[0]!, 4028), "ECONNREFUSED");
    assert.equal(await connectOutcome("127.63.1.1", 5020), "ECONNREFUSED");
  });

  test("EADDRINUSE: rejects naming host:port and stops what already started", async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(5020, "127.63.2.9", r));
    const profile = await loadMeterProfile("sdm630");
    try {
      await assert.rejects(
        startSimSite({
          miners: [{ id: "a", host: "127.63.2.1", port: 4028 }],
          meters: [{ id: "pcc", role: "site", host: "127.63.2.9", port: 5020, unitId: 1, profile }],
        }),
        /127\.63\.2\.9:5020.*EADDRINUSE/,
      );
      assert.equal(await connectOutcome("127.63.2.1", 4028), "ECONNREFUSED");

      const m = net.createServer();
      await new Promise<void>((r) => m.listen(4028, "127.63.2.2", r));
      await assert.rejects(
        startSimSite({
          miners: [
            { id: "a", host: "127.63.2.1", port: 4028 },
            { id: "b", host: "127.63.2.2", port: 4028 },
          ],
          meters: [],
        }),
        /miner b cannot listen on 127\.63\.2\.2:4028: EADDRINUSE/,
      );
      await new Promise<void>((r) => m.close(() => r()));
      assert.equal(await connectOutcome("127.63.2.1", 4028), "ECONNREFUSED");
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
    }
  });

  test("an endpoint assigned twice is refused before anything binds", async () => {
    await assert.rejects(
      startSimSite({
        miners: [
          { id: "a", host: "127.63.3.1", port: 4028 },
          { id: "b", host: "127.63.3.1", port: 4028 },
        ],
        meters: [],
      }),
      /127\.63\.3\.1:4028 is assigned twice/,
    );
  });
});

describe("wattkeeper sim (CLI)", () => {
  const logger = pino({ level: "silent" });

  test("serves, prints a config snippet, stops on abort with 0", async () => {
    const out: string[] = [];
    const err: string[] = [];
    const ac = new AbortController();
    const done = runSimCommand(
      [
        "--miners",
        "3",
        "--base-address",
        "127.64.0.254",
        "--port",
        "4029",
        "--meter-host",
        "127.64.2.1",
        "--meter-port",
        "5040",
        "--seed",
        "9",
      ],
      { logger: logger, signal: ac.signal, io: { out: (l) => out.push(l), err: (l) => err.push(l) } },
    );
    while (!out.some((l) => l.startsWith("meters:"))) await new Promise((r) => setTimeout(r, 10));
    const text = out.join("\n");
    assert.match(text, /- hosts: 127\.64\.0\.254\n {4}port: 4029/);
    assert.match(text, /- hosts: 127\.64\.1\.1-127\.64\.1\.2/);
    assert.match(text, /modbus: \{ tcp: "127\.64\.2\.1:5040", unitId: 1 \}/);
    assert.match(await ask("127.64.1.2", 4029, "version"), /Type=Antminer/);
    assert.ok((await readPowerW("127.64.2.1", 5040, 1)) > 9000);
    ac.abort();
    assert.equal(await done, 0);
    assert.deepEqual(err, []);
    assert.equal(await connectOutcome("127.64.1.2", 4029), "ECONNREFUSED");
  });

  test("bad flags → message on stderr, exit 2", async () => {
    for (const argv of [["--miners", "x"], ["--bogus"], ["--base-address", "1.2.3"], ["stray"]]) {
      const err: string[] = [];
      const code = await runSimCommand(argv, {
        logger: logger,
        signal: AbortSignal.abort(),
        io: {
          out: () => {},
          err: (l) => err.push(l),
        },
      });
      assert.equal(code, 2, argv.join(" "));
      assert.match(err[0]!, /^wattkeeper sim: /);
    }
  });
});
