// signals.openadr against the simulated VTN (sim/openadr): OAuth2 client
// credentials, the configured program found by name, an IMPORT_CAPACITY_LIMIT
// event of two intervals followed interval by interval (the site sheds under
// each), a usage report per interval posted back, and a cancelled (deleted)
// event releasing the budget at the next poll.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { probeSignalCommand } from "../../agent/cli/probe-signal.ts";
import { startSimFromConfig } from "../../agent/cli/simulated-site.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { Site } from "../../agent/site/site.ts";
import type { SiteEvent } from "../../agent/store/events.ts";
import { loadConfig } from "../../config/load.ts";
import { startVtnSim, type VtnSim } from "../../sim/openadr/vtn.ts";
import { testPort, waitFor } from "../helpers/ports.ts";

let site: Site;
let sim: Awaited<ReturnType<typeof startSimFromConfig>>;
let vtn: VtnSim;
let programId: string;
let configFile: string;
const events: SiteEvent[] = [];

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), "wk-oadr-"));
  vtn = await startVtnSim({ clients: { "ven-1": "ven-secret" } });
  programId = vtn.addProgram("ercot-clr").id;
  vtn.addProgram("someone-else");
  writeFileSync(join(dir, "oadr.secret"), "ven-secret\n");
  const file = join(dir, "site.yaml");
  writeFileSync(
    file,
    `site: { id: oadr, timezone: UTC, contractLimitW: 1MW }
store: { path: ./state.db }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${await testPort()}", unitId: 1 } }
miners:
  - { hosts: 127.96.0.1-127.96.0.12, dialect: luxos }
control: { tickS: 0.5, shedMarginW: 500, restoreMarginW: 1500, minOnS: 1s, minOffS: 1s, restoreStaggerS: 0, rampUpWPerMin: 10MW }
signals:
  openadr: { name: utility, vtnUrl: "${vtn.url}", clientId: ven-1, clientSecretFile: ./oadr.secret, venName: odessa-ven, programs: [ercot-clr], pollS: 0.5s, staleS: 5s }
sim: { seed: 10, noiseW: 10, auxW: 1kW }
`,
  );
  configFile = file;
  const { config } = await loadConfig(file, { strictFiles: true });
  sim = await startSimFromConfig(config, silentLogger());
  site = new Site(config, silentLogger(), {
    httpListen: { host: "127.0.0.1", port: 0 },
    minerPollMs: 300,
    meterPollMs: 250,
  });
  site.onEvent((e) => events.push(e));
  await site.start();
  await waitFor("twelve miners hashing", () => site.snapshot().counts.hashing === 12, 15_000);
});

after(async () => {
  await site?.stop();
  await sim?.stop();
  await vtn?.stop();
});

const siteJson = async () =>
  (await (await fetch(`http://127.0.0.1:${site.httpAddress()!.port}/api/site`)).json()) as {
    budgetW: number;
    budgetSource: string;
    budgetReason: string;
    signals: Array<{ name: string; kind: string; state: string; budgetW: number | null }>;
  };

test("an IMPORT_CAPACITY_LIMIT event of two intervals is followed interval by interval and reported", {
  timeout: 60_000,
}, async () => {
  const startW = site.snapshot().powerW!;
  const firstKw = Math.floor(startW / 1000) - 8;
  const secondKw = firstKw - 8;
  const start = new Date(Date.now() + 1500).toISOString();
  vtn.putEvent({
    id: "ev-1",
    programID: programId,
    eventName: "CLR dispatch",
    intervalPeriod: { start, duration: "PT6S" },
    payloadDescriptors: [
      { objectType: "EVENT_PAYLOAD_DESCRIPTOR", payloadType: "IMPORT_CAPACITY_LIMIT", units: "KW" },
    ],
    intervals: [
      { id: 0, payloads: [{ type: "IMPORT_CAPACITY_LIMIT", values: [firstKw] }] },
      { id: 1, payloads: [{ type: "IMPORT_CAPACITY_LIMIT", values: [secondKw] }] },
    ],
  });
  const first = await waitFor(
    "interval 0 in force",
    async () => {
      const s = await siteJson();
      return s.budgetW === firstKw * 1000 && s;
    },
    10_000,
    100,
  );
  assert.equal(first.budgetSource, "signal");
  assert.match(
    first.budgetReason,
    /^utility: event CLR dispatch interval 0: IMPORT_CAPACITY_LIMIT \d+ KW until /,
  );
  assert.deepEqual(
    first.signals.map((s) => [s.name, s.kind, s.state]),
    [["utility", "openadr", "active"]],
  );
  await waitFor("the site under interval 0", () => site.snapshot().powerW! < firstKw * 1000, 6000, 100);
  await waitFor(
    "interval 1 in force",
    async () => (await siteJson()).budgetW === secondKw * 1000,
    10_000,
    100,
  );
  await waitFor("the site under interval 1", () => site.snapshot().powerW! < secondKw * 1000, 6000, 100);
  await waitFor(
    "released after the event",
    async () => (await siteJson()).budgetSource === "contract",
    10_000,
    100,
  );
  const reports = await waitFor(
    "two usage reports",
    () => vtn.reports().length >= 2 && vtn.reports(),
    10_000,
    100,
  );
  const r0 = reports[0] as {
    eventID: string;
    clientName: string;
    resources: Array<{
      intervals: Array<{ id: number; payloads: Array<{ type: string; values: number[] }> }>;
    }>;
  };
  assert.equal(r0.eventID, "ev-1");
  assert.equal(r0.clientName, "odessa-ven");
  const iv = r0.resources[0]!.intervals[0]!;
  assert.equal(iv.id, 0);
  const demand = iv.payloads.find((p) => p.type === "DEMAND")!.values[0]!;
  assert.ok(demand > 5 && demand < startW / 1000 + 2, `reported demand ${demand} kW`);
  assert.ok(iv.payloads.find((p) => p.type === "USAGE")!.values[0]! > 0);
  assert.ok(vtn.requests().includes("POST /auth/token"));
});

test("a cancelled (deleted) event releases the budget at the next poll", { timeout: 30_000 }, async () => {
  vtn.putEvent({
    id: "ev-2",
    programID: programId,
    eventName: "long",
    intervalPeriod: { start: "0001-01-01T00:00:00Z", duration: "PT1H" },
    intervals: [{ id: 0, payloads: [{ type: "IMPORT_CAPACITY_LIMIT", values: [20] }] }],
  });
  await waitFor("in force", async () => (await siteJson()).budgetW === 20_000, 10_000, 100);
  vtn.deleteEvent("ev-2");
  await waitFor("released", async () => (await siteJson()).budgetSource === "contract", 5000, 100);
  assert.ok(events.some((e) => e.kind === "signal-changed" && /utility \(openadr\) idle/.test(e.message)));
});

test("probe signal openadr lists the programs and the intervals the VEN would follow", async () => {
  vtn.putEvent({
    id: "ev-3",
    programID: programId,
    eventName: "tomorrow",
    intervalPeriod: { start: new Date(Date.now() + 86_400_000).toISOString(), duration: "PT1H" },
    intervals: [{ id: 0, payloads: [{ type: "SIMPLE", values: [2] }] }],
  });
  let text = "";
  const code = await probeSignalCommand(["openadr", "--config", configFile, "--json"], {
    write: (s: string) => (text += s),
  });
  assert.equal(code, 0, text);
  const j = JSON.parse(text) as {
    programs: Array<{ name: string; onVtn: boolean }>;
    intervals: Array<{ event: string; inForce: boolean; budgetW: number | null; what: string }>;
  };
  assert.deepEqual(j.programs, [{ name: "ercot-clr", onVtn: true }]);
  assert.deepEqual(
    j.intervals.map((i) => [i.event, i.inForce, i.budgetW, i.what]),
    [
      [
        "tomorrow",
        false,
        null,
        "SIMPLE 2: no budget configured for this level (signals.openadr.simpleLevels)",
      ],
    ],
  );
  vtn.deleteEvent("ev-3");
});
