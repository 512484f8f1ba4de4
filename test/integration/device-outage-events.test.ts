// A site meter with nothing listening, through the whole agent: the Modbus
// driver's reasons change every read (refused, then "not reconnecting for N ms
// after M errors"), yet the event log gets one device-degraded event for the
// outage and one device-recovered event, with the count and duration, when a
// meter answers on that port.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { Site } from "../../agent/site/site.ts";
import type { SiteEvent } from "../../agent/store/events.ts";
import { loadConfig } from "../../config/load.ts";
import { type ModbusMeterSim, startModbusMeterSim } from "../../sim/modbus/meter.ts";
import { type SimSite, startSimSite } from "../../sim/site.ts";
import { testPort, waitFor } from "../helpers/ports.ts";

/** Long enough for the driver's reconnect backoff to reach its 10 s ceiling several times over. */
const DEAD_MS = 25_000;

describe("a dead site meter", () => {
  let sim: SimSite;
  let meter: ModbusMeterSim | null = null;
  let agent: Site;
  let base: string;
  let meterPort: number;
  let profile: Awaited<ReturnType<typeof loadConfig>>["config"]["meters"][number]["profile"];

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), "wk-outage-"));
    const file = join(dir, "site.yaml");
    meterPort = await testPort();
    writeFileSync(
      file,
      `site: { id: outage-test, timezone: UTC, contractLimitW: 1MW }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${meterPort}", unitId: 1 }, timeoutMs: 300 }
miners:
  - hosts: 127.45.0.1-127.45.0.3
control: { tickS: 1, meterStaleS: 3, unmeteredW: 20kW }
store: { path: ${join(dir, "wk.db")} }
`,
    );
    const { config } = await loadConfig(file, { strictFiles: true });
    profile = config.meters[0]!.profile;
    sim = await startSimSite({
      miners: config.miners.map((m) => ({ id: m.id, host: m.host, port: m.port })),
      meters: [],
      seed: 5,
      logger: silentLogger(),
    });
    agent = new Site(config, silentLogger(), {
      httpListen: { host: "127.0.0.1", port: 0 },
      minerPollMs: 500,
      meterPollMs: 100,
    });
    await agent.start();
    base = `http://127.0.0.1:${agent.httpAddress()!.port}`;
  });
  after(async () => {
    await agent?.stop();
    await meter?.stop();
    await sim?.stop();
  });

  const pccEvents = async () => {
    const { events } = (await (await fetch(`${base}/api/events?limit=1000`)).json()) as {
      events: SiteEvent[];
    };
    // the outage's own events (the problems list raises and clears its own, problem-*)
    return events.filter((e) => e.deviceId === "pcc" && e.kind.startsWith("device-")).reverse();
  };

  test("one degraded event for the whole outage, one recovered event with its count and duration", async (t) => {
    // wall-clock on purpose: the driver's backoff runs on Date.now (the Site takes no clock), and
    // what is tested is one event over an outage long enough for that backoff to top out
    await new Promise((r) => setTimeout(r, DEAD_MS));
    const during = await pccEvents();
    assert.deepEqual(
      during.map((e) => e.kind),
      ["device-degraded"],
      during.map((e) => e.message).join("\n"),
    );
    assert.equal(during[0]!.data?.code, "WK_MODBUS_REFUSED");

    meter = await startModbusMeterSim({
      host: "127.0.0.1",
      port: meterPort,
      unitId: 1,
      profile,
      model: sim.model,
      logger: silentLogger(),
    });
    const all = await waitFor(
      "the recovered event",
      async () => {
        const ev = await pccEvents();
        return ev.some((e) => e.kind === "device-recovered") && ev;
      },
      15_000,
    );
    assert.deepEqual(
      all.map((e) => e.kind),
      ["device-degraded", "device-recovered"],
    );
    const rec = all[1]!;
    const data = rec.data as { durationS: number; failedReads: number; codes: string[] };
    t.diagnostic(rec.message);
    assert.ok(data.durationS >= DEAD_MS / 1000 - 1, `duration ${data.durationS} s`);
    assert.ok(data.failedReads > 50, `${data.failedReads} failed reads`);
    assert.deepEqual(data.codes, ["WK_MODBUS_REFUSED"]);
    assert.match(rec.message, /^pcc recovered after \d+ s \(\d+ failed reads; WK_MODBUS_REFUSED\)$/);
  });
});
