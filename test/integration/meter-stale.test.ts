// A site meter that stops answering, through the whole agent: config → Site
// (Modbus driver, poller, snapshot) → GET /api/site. Within control.meterStaleS
// the snapshot must say the meter is not ok, stop using its last value as the
// site power and fall back to the estimate; when the meter answers again, the
// meter is the source again.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { Site } from "../../agent/site/site.ts";
import { loadConfig } from "../../config/load.ts";
import { type SimSite, startSimSite } from "../../sim/site.ts";
import { testPort, waitFor } from "../helpers/ports.ts";

const STALE_S = 3;

interface SiteJson {
  powerW: number | null;
  powerSource: "meter" | "estimate" | null;
  meter: { ok: boolean; ageS: number | null } | null;
  classes: { mining: { powerW: number | null } };
}

async function site(base: string): Promise<SiteJson> {
  return (await (await fetch(`${base}/api/site`)).json()) as SiteJson;
}

describe("a site meter that stops answering", () => {
  let sim: SimSite;
  let agent: Site;
  let base: string;

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), "wk-meter-stale-"));
    const file = join(dir, "site.yaml");
    const meterPort = await testPort();
    writeFileSync(
      file,
      `site: { id: stale-test, timezone: UTC, contractLimitW: 1MW }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${meterPort}", unitId: 1 }, timeoutMs: 500 }
miners:
  - hosts: 127.103.0.1-127.103.0.5
control: { tickS: 1, meterStaleS: ${STALE_S}, unmeteredW: 20kW }
`,
    );
    const { config } = await loadConfig(file, { strictFiles: true });
    sim = await startSimSite({
      miners: config.miners.map((m) => ({ id: m.id, host: m.host, port: m.port })),
      meters: config.meters.map((m) => {
        assert.equal(m.modbus.kind, "tcp");
        const mb = m.modbus as { host: string; port: number; unitId: number };
        return {
          id: m.id,
          role: m.role,
          host: mb.host,
          port: mb.port,
          unitId: mb.unitId,
          profile: m.profile,
        };
      }),
      seed: 3,
      noiseW: 200,
      logger: silentLogger(),
    });
    agent = new Site(config, silentLogger(), {
      httpListen: { host: "127.0.0.1", port: 0 },
      minerPollMs: 500,
      meterPollMs: 500,
    });
    await agent.start();
    base = `http://127.0.0.1:${agent.httpAddress()!.port}`;
  });
  after(async () => {
    await agent?.stop();
    await sim?.stop();
  });

  test("is marked stale within meterStaleS; the snapshot stops presenting its last value", async (t) => {
    await waitFor("metered site power and 5 miners read", async () => {
      const s = await site(base);
      return s.powerSource === "meter" && s.meter?.ok && s.classes.mining.powerW !== null && s;
    });
    const meter = sim.meters.get("pcc")!;
    meter.setFault("timeout");
    const lastServed = Math.fround(meter.lastPowerW!);
    const t0 = Date.now();

    const stale = await waitFor(
      "meter.ok false",
      async () => {
        const s = await site(base);
        return s.meter?.ok === false && s;
      },
      STALE_S * 1000,
    );
    const elapsedMs = Date.now() - t0;
    assert.ok(elapsedMs <= STALE_S * 1000, `stale after ${elapsedMs} ms`);
    t.diagnostic(`meter.ok false ${elapsedMs} ms after the meter went silent (meterStaleS ${STALE_S})`);
    assert.notEqual(stale.powerSource, "meter");
    assert.equal(stale.powerSource, "estimate");
    assert.notEqual(stale.powerW, lastServed, "the frozen meter value is not presented as site power");

    // past meterStaleS: the age keeps growing and no meter value is shown anywhere
    const old = await waitFor(
      "age past meterStaleS",
      async () => {
        const s = await site(base);
        return (s.meter?.ageS ?? 0) > STALE_S && s;
      },
      STALE_S * 1000 + 3000,
    );
    assert.equal(old.meter!.ok, false);
    assert.equal(old.powerSource, "estimate");
    const devices = (await (await fetch(`${base}/api/devices`)).json()) as {
      meters: Array<{ id: string; ok: boolean; powerW: number | null; reason: string | null }>;
    };
    const pcc = devices.meters.find((m) => m.id === "pcc")!;
    assert.equal(pcc.ok, false);
    assert.equal(pcc.powerW, null);
    assert.match(pcc.reason ?? "", /WK_MODBUS_(TIMEOUT|BACKOFF)/);
  });

  test("answers again: the meter is the source again within a few seconds", async () => {
    sim.meters.get("pcc")!.setFault(null);
    const back = await waitFor(
      "metered again",
      async () => {
        const s = await site(base);
        return s.powerSource === "meter" && s.meter?.ok && s;
      },
      12_000,
    );
    assert.ok((back.meter!.ageS ?? 99) < 2);
  });
});
