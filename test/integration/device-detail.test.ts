// The miner detail end to end on the simulator (GET /api/devices/<id>):
// address, model from the catalogue, firmware and version, dialect,
// capabilities, boards, fans, pools, uptime, the actions it offers (from its
// capabilities, a power limit within the model's range), its ledger actions
// with origin and outcome, its events and its sparkline; an operator's power
// limit and reboot confirmed by read-back; an exclusion with an end that
// returns the miner to automatic control by itself, across a restart too.

import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startSimFromConfig } from "../../agent/cli/simulated-site.ts";
import type { DeviceDetail } from "../../agent/http/types.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { Site } from "../../agent/site/site.ts";
import { loadConfig } from "../../config/load.ts";
import type { SiteConfig } from "../../config/schema.ts";
import { testPort, waitFor } from "../helpers/ports.ts";
import { testPasswordHash, testSiteOptions } from "../helpers/sim-site.ts";
import { call, cookieOf } from "./http-helpers.ts";

const PASSWORD = "detail-tech-3";
const ID = "m-127-166-0-1";

let config: SiteConfig;
let site: Site;
let sim: Awaited<ReturnType<typeof startSimFromConfig>>;
let base: string;

function startSite() {
  return new Site(config, silentLogger(), testSiteOptions({ deviceHistoryEveryMs: 500 }));
}

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), "wk-detail-"));
  const file = join(dir, "site.yaml");
  const hash = await testPasswordHash(PASSWORD);
  writeFileSync(
    file,
    `site: { id: detail, timezone: UTC, contractLimitW: 1MW }
http:
  operators:
    - { name: bea, passwordHash: "${hash}" }
store: { path: ./state.db }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${await testPort()}", unitId: 1 } }
miners:
  - { hosts: 127.166.0.1-127.166.0.2, dialect: luxos, location: container-D/rack-2/slot-7 }
  - { host: 127.166.0.3, location: container-D/rack-2/slot-8 }
control: { tickS: 0.5, minOnS: 1s, minOffS: 1s, restoreStaggerS: 0 }
sim: { seed: 17, noiseW: 10, auxW: 1kW, models: [antminer-s19j-pro] }
`,
  );
  ({ config } = await loadConfig(file, { strictFiles: true }));
  sim = await startSimFromConfig(config, silentLogger());
  site = startSite();
  await site.start();
  base = `http://127.0.0.1:${site.httpAddress()!.port}`;
  await waitFor("three miners hashing", () => site.snapshot().counts.hashing === 3, 15_000);
});
after(async () => {
  await site?.stop();
  await sim?.stop();
});

async function login() {
  const r = await call(base, "POST", "/api/login", {
    body: { name: "bea", password: PASSWORD },
    headers: { origin: base },
  });
  assert.equal(r.status, 200, r.text);
  return { cookie: cookieOf(r), "x-csrf-token": r.json.csrfToken as string, origin: base };
}

const detail = async (id = ID) =>
  (await call(base, "GET", `/api/devices/${id}`)).json as unknown as DeviceDetail;

describe("GET /api/devices/<id>", () => {
  test("every field a technician needs: address, model, firmware and version, boards, fans, pools, uptime, actions, sparkline", async () => {
    await waitFor("two sparkline points", async () => (await detail()).history.points.length >= 2, 10_000);
    const d = await detail();
    assert.deepEqual(
      [d.id, d.class, d.host, d.port, d.location, d.dialect, d.state],
      [ID, "mining", "127.166.0.1", 4028, "container-D/rack-2/slot-7", "luxos", "hashing"],
    );
    // the firmware as the agent names it (the version key of LuxOS's `version` reply)
    assert.equal(d.firmware?.name, "luxminer");
    assert.match(d.firmware?.version ?? "", /^\d{4}\./);
    assert.deepEqual(d.capabilities, ["sleep", "wake", "setPowerLimit", "reboot", "locate"]);
    assert.equal(d.model?.name, "Antminer S19j Pro");
    assert.equal(d.model?.origin, "config/models/antminer.yaml");
    assert.deepEqual(d.model?.powerLimitW, { min: 2000, max: 3400 });
    const reading = d.reading as {
      boards: Array<{
        index: number;
        hashrateThs: number;
        chips: number;
        chipTempC: number;
        boardTempC: number;
      }>;
      fanRpm: number[];
      pools: Array<{ url: string; user: string; status: string }>;
      uptimeS: number;
      hashrateThs: number;
      powerW: number;
    };
    assert.deepEqual(
      reading.boards.map((b) => b.index),
      [1, 2, 3],
    );
    assert.ok(reading.boards.every((b) => b.hashrateThs > 30 && b.chips === 126 && b.chipTempC > 50));
    assert.equal(reading.fanRpm.length, 4);
    assert.equal(reading.pools.length, 3);
    assert.deepEqual(reading.pools[0], {
      url: "stratum+tcp://btc.sim-pool.example:3333",
      user: `wattkeeper.${ID}`,
      status: "Alive",
    });
    assert.ok(reading.uptimeS > 0);
    // actions from its capabilities, in DEVICE_ACTIONS order; the power limit within the narrower range
    assert.deepEqual(
      d.actions.map((a) => a.action),
      ["sleep", "wake", "reboot", "set-power-limit", "locate", "exclude"],
    );
    const pl = d.actions.find((a) => a.action === "set-power-limit")!;
    assert.equal(pl.label, "Set power limit");
    assert.ok(pl.value!.min! >= 2000 && pl.value!.max! <= 3400, JSON.stringify(pl.value));
    assert.ok(d.history.points.every((p) => p.powerW! > 2000 && p.hashrateThs! > 90));
    assert.equal(d.history.everyS, 0.5);
    assert.deepEqual(d.problems, []);
    assert.equal(d.exclusion, null);
  });

  test("a read-only stock miner offers only exclude, and says why it cannot be shed", async () => {
    const d = await detail("m-127-166-0-3");
    assert.deepEqual(
      d.actions.map((a) => a.action),
      ["exclude"],
    );
    assert.deepEqual(
      d.problems.map((p) => p.kind),
      ["cannot-shed"],
    );
  });

  test("unknown id 404, a bad one 400, URL-encoded ids decoded", async () => {
    const none = await call(base, "GET", "/api/devices/nope");
    assert.equal(none.status, 404);
    assert.equal(none.json.error, "no such device: nope");
    assert.equal((await call(base, "GET", "/api/devices/a%2Fb")).status, 400);
    assert.equal((await call(base, "GET", "/api/devices/%E0%A4%A")).status, 400);
    assert.equal((await call(base, "GET", `/api/devices/${encodeURIComponent(ID)}`)).status, 200);
    assert.equal((await call(base, "POST", `/api/devices/${ID}`, { body: {} })).status, 405);
  });
});

describe("operator actions, confirmed by read-back, in the ledger with origin and outcome", () => {
  test("set power limit within the range, then reboot; each audited and in the detail's ledger and events", async () => {
    const headers = await login();
    const before = (await detail()).reading as { powerW: number };
    const limit = await call(base, "POST", "/api/actions", {
      body: { kind: "device", id: ID, action: "set-power-limit", value: "2.4kW" },
      headers,
    });
    assert.equal(limit.status, 200, limit.text);
    assert.equal(limit.json.ok, true);
    assert.deepEqual(
      [(limit.json.audit as { who: string }).who, (limit.json.audit as { action: string }).action],
      ["bea", "device/action"],
    );
    const after = await waitFor(
      "the lower draw read back",
      async () => {
        const r = (await detail()).reading as { powerW: number };
        return r.powerW < before.powerW - 300 && r;
      },
      10_000,
    );
    assert.ok(after.powerW <= 2500, `draws ${after.powerW} W`);
    const outside = await call(base, "POST", "/api/actions", {
      body: { kind: "device", id: ID, action: "set-power-limit", value: 1000 },
      headers,
    });
    assert.equal(outside.status, 409);
    assert.match(outside.json.error as string, /below the Antminer S19j Pro's minimum 2,000 W/);

    const reboot = await call(base, "POST", "/api/actions", {
      body: { kind: "device", id: ID, action: "reboot" },
      headers,
    });
    assert.equal(reboot.status, 200, reboot.text);
    const d = await detail();
    const kinds = d.ledger.map((l) => `${l.action} ${l.origin} ${l.outcome}`);
    assert.deepEqual(kinds.slice(0, 3), [
      "reboot operator done",
      "setPowerLimit operator failed",
      "setPowerLimit operator done",
    ]);
    assert.match(d.ledger[2]!.reason, /^operator bea/);
    assert.ok(d.events.some((e) => e.kind === "operator-action" && /^reboot/.test(e.message)));
    assert.ok(d.events.every((e) => e.deviceId === ID));
  });

  test("exclude until a time: excluded with its end, back in automatic control by itself — across a restart", async () => {
    const headers = await login();
    const ex = await call(base, "POST", "/api/actions", {
      body: { kind: "device", id: ID, action: "exclude", reason: "fan swap", untilS: 4 },
      headers,
    });
    assert.equal(ex.status, 200, ex.text);
    assert.match(ex.json.detail as string, /^excluded until \d{4}-/);
    const d = await detail();
    assert.equal(d.exclusion?.reason, "fan swap");
    assert.equal(d.exclusion?.by, "bea");
    assert.ok(d.exclusion!.until! > Date.now());
    assert.deepEqual(d.actions.map((a) => a.action).slice(-1), ["include"]);
    // the agent restarts while the miner is in maintenance: the end is kept with the exclusion
    await site.stop();
    site = startSite();
    await site.start();
    base = `http://127.0.0.1:${site.httpAddress()!.port}`;
    assert.ok((await detail()).exclusion, "still excluded after the restart");
    const back = await waitFor(
      "the exclusion ended by itself",
      async () => {
        const now = await detail();
        return now.exclusion === null && now.events.find((e) => e.kind === "device-included");
      },
      10_000,
    );
    assert.match(
      back?.message ?? "",
      /back in automatic control: the exclusion by bea \(fan swap\) ended at/,
    );
    // the end as a time ("until 16:00"): kept to the millisecond; one in the past, or both forms, refused
    const at = new Date(Date.now() + 3_600_000);
    const h2 = await login();
    const timed = await call(base, "POST", "/api/actions", {
      body: { kind: "device", id: ID, action: "exclude", until: at.toISOString() },
      headers: h2,
    });
    assert.equal(timed.status, 200, timed.text);
    assert.ok(Math.abs((await detail()).exclusion!.until! - at.getTime()) < 50);
    const past = await call(base, "POST", "/api/actions", {
      body: { kind: "device", id: ID, action: "exclude", until: "2020-01-01T00:00:00Z" },
      headers: h2,
    });
    assert.deepEqual([past.status, past.json.error], [400, "until: is in the past"]);
    const both = await call(base, "POST", "/api/actions", {
      body: { kind: "device", id: ID, action: "exclude", until: at.toISOString(), untilS: 60 },
      headers: h2,
    });
    assert.deepEqual([both.status, both.json.error], [400, "until: give until or untilS, not both"]);
    await call(base, "POST", "/api/actions", {
      body: { kind: "device", id: ID, action: "include" },
      headers: h2,
    });
    const devices = await call(base, "GET", "/api/devices");
    assert.equal(
      (devices.json.miners as Array<{ id: string; excluded: boolean }>).find((m) => m.id === ID)?.excluded,
      false,
    );
  });
});
