// signals.modbusServer through the whole agent: a QSE's RTU (here the project's
// own Modbus client, modbus-serial; test/peers has the same with Debian's
// mbpoll) writes a setpoint and the site sheds under it; it reads back site
// power, budget, flexible power and status; the heartbeat stops and the
// setpoint lapses per onStale; a write above the contract and a client from a
// disallowed address change nothing.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import modbusSerial from "modbus-serial";
import { startSimFromConfig } from "../../agent/cli/simulated-site.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { Site } from "../../agent/site/site.ts";
import type { SiteEvent } from "../../agent/store/events.ts";
import { loadConfig } from "../../config/load.ts";
import { testPort, waitFor } from "../helpers/ports.ts";

const STALE_S = 3;
let site: Site;
let sim: Awaited<ReturnType<typeof startSimFromConfig>>;
let port: number;
const events: SiteEvent[] = [];
// modbus-serial is CommonJS: `default` is the class at run time (as in drivers/modbus/client.ts)
const Client = modbusSerial.default;
let rtu: InstanceType<typeof Client>;

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), "wk-sig-modbus-"));
  port = await testPort();
  const file = join(dir, "site.yaml");
  writeFileSync(
    file,
    `site: { id: sig-modbus, timezone: UTC, contractLimitW: 100kW }
store: { path: ./state.db }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${await testPort()}", unitId: 1 } }
miners:
  - { hosts: 127.92.0.1-127.92.0.10, dialect: luxos }
control: { tickS: 0.5, shedMarginW: 500, restoreMarginW: 1500, minOnS: 1s, minOffS: 1s, restoreStaggerS: 0, rampUpWPerMin: 1MW, failsafeBudgetW: 20kW }
signals:
  modbusServer: { name: qse, listen: "127.0.0.1:${port}", unitId: 1, allow: [127.0.0.1], staleS: ${STALE_S}s, onStale: release }
sim: { seed: 12, noiseW: 10, auxW: 1kW }
`,
  );
  const { config } = await loadConfig(file, { strictFiles: true });
  sim = await startSimFromConfig(config, silentLogger());
  site = new Site(config, silentLogger(), {
    httpListen: { host: "127.0.0.1", port: 0 },
    minerPollMs: 300,
    meterPollMs: 250,
  });
  site.onEvent((e) => events.push(e));
  await site.start();
  rtu = new Client();
  rtu.setTimeout(2000);
  await rtu.connectTCP("127.0.0.1", { port });
  rtu.setID(1);
  await waitFor("ten miners hashing", () => site.snapshot().counts.hashing === 10, 15_000);
});

after(async () => {
  await new Promise<void>((r) => rtu?.close(() => r()));
  await site?.stop();
  await sim?.stop();
});

const inputs = async () => (await rtu.readInputRegisters(0, 8)).data;
const kw = (hi: number, lo: number) => hi * 65536 + lo;

test("a 20 kW setpoint is followed; the RTU reads back power, budget, flexible power and status", async () => {
  const before = await inputs();
  const startKw = kw(before[0]!, before[1]!);
  assert.ok(startKw > 25, `site ${startKw} kW`);
  assert.equal(kw(before[2]!, before[3]!), 100, "budget: the contract");
  assert.ok(kw(before[4]!, before[5]!) > 20, "flexible power");
  assert.equal(before[6]! & 1, 1, "loop healthy");
  assert.equal(before[6]! & 4, 4, "meter ok");

  await rtu.writeRegisters(0, [0, 20, 1, 1]);
  let beat = 1;
  const heart = setInterval(() => {
    beat = (beat + 1) & 0xffff;
    void rtu.writeRegister(3, beat).catch(() => undefined);
  }, 500);
  try {
    const settled = await waitFor(
      "the site under 20 kW",
      async () => {
        const w = await inputs();
        return kw(w[2]!, w[3]!) === 20 && site.snapshot().powerW! < 20_000 && w;
      },
      20_000,
      200,
    );
    assert.equal(settled[6]! & 2, 2, "setpoint in force");
    assert.equal(settled[7], beat, "heartbeat echoed");
    const body = (await (await fetch(`http://127.0.0.1:${site.httpAddress()!.port}/api/site`)).json()) as {
      signals: Array<{ name: string; state: string; budgetW: number }>;
      budgetSource: string;
    };
    assert.equal(body.budgetSource, "signal");
    const sig = body.signals[0]!;
    assert.deepEqual([sig.name, sig.state, sig.budgetW], ["qse", "active", 20_000]);
  } finally {
    clearInterval(heart);
  }
  // the heartbeat stops: released within staleS + a tick
  const stoppedAt = Date.now();
  await waitFor(
    "the setpoint lapsed",
    async () => {
      const w = await inputs();
      return (w[6]! & 16) === 16 && kw(w[2]!, w[3]!) === 100;
    },
    (STALE_S + 3) * 1000,
    100,
  );
  const lapsedS = (Date.now() - stoppedAt) / 1000;
  assert.ok(lapsedS <= STALE_S + 1.5, `${lapsedS} s`);
  assert.ok(
    events.some(
      (e) => e.kind === "signal-changed" && /qse \(modbus\) stale: heartbeat unchanged/.test(e.message),
    ),
  );
});

test("a setpoint above the contract is refused with exception 03 and changes nothing; audited", async () => {
  await assert.rejects(
    rtu.writeRegisters(0, [0, 150]),
    (err: { modbusCode?: number }) => err.modbusCode === 3,
  );
  const h = (await rtu.readHoldingRegisters(0, 2)).data;
  assert.deepEqual([...h], [0, 20]);
  const audit = site.audit!.recent(5).find((a) => a.action === "signal/setpoint" && !a.ok);
  assert.match(audit?.error ?? "", /setpoint 150 kW above the contract limit 100 kW/);
  await assert.rejects(
    rtu.readHoldingRegisters(10, 2),
    (err: { modbusCode?: number }) => err.modbusCode === 2,
  );
});

test("a client from an address not allowed is closed before it can write", async () => {
  const sock = new Socket();
  const closed = new Promise<boolean>((resolve) => {
    sock.on("close", () => resolve(true));
    sock.on("error", () => undefined);
  });
  sock.connect({ host: "127.0.0.1", port, localAddress: "127.0.0.2" }, () => {
    // FC06 write of enable = 1: MBAP (tx 1, proto 0, len 6, unit 1) + 06 0002 0001
    sock.write(Buffer.from([0, 1, 0, 0, 0, 6, 1, 6, 0, 2, 0, 1]));
  });
  assert.equal(await closed, true);
  const h = (await rtu.readHoldingRegisters(2, 1)).data;
  assert.deepEqual([...h], [1], "enable unchanged (it was 1 from the first test)");
  await rtu.writeRegister(2, 0);
});
