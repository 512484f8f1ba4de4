// signals.contact through the agent: a dry contact on a simulated Modbus I/O
// module. Closed → the budget becomes activeBudgetW and the site sheds under
// it; open → released; the module stops answering → onStale (hold) keeps the
// last state, then a closed contact read again applies at once.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { startSimFromConfig } from "../../agent/cli/simulated-site.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { Site } from "../../agent/site/site.ts";
import type { SiteEvent } from "../../agent/store/events.ts";
import { loadConfig } from "../../config/load.ts";
import { type IoModuleSim, startIoModuleSim } from "../../sim/modbus/io-module.ts";
import { testPort, waitFor } from "../helpers/ports.ts";

let site: Site;
let sim: Awaited<ReturnType<typeof startSimFromConfig>>;
let io: IoModuleSim;
let ioPort: number;
const events: SiteEvent[] = [];

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), "wk-contact-"));
  ioPort = await testPort();
  io = await startIoModuleSim({ host: "127.0.0.1", port: ioPort });
  const file = join(dir, "site.yaml");
  writeFileSync(
    file,
    `site: { id: contact, timezone: UTC, contractLimitW: 100kW }
store: { path: ./state.db }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${await testPort()}", unitId: 1 } }
miners:
  - { hosts: 127.95.0.1-127.95.0.8, dialect: luxos }
control: { tickS: 0.5, shedMarginW: 500, restoreMarginW: 1500, minOnS: 1s, minOffS: 1s, restoreStaggerS: 0, rampUpWPerMin: 1MW }
signals:
  contact: { name: dr-relay, modbus: { tcp: "127.0.0.1:${ioPort}", unitId: 1 }, discreteInput: 3, activeBudgetW: 10kW, pollS: 0.2, staleS: 2, onStale: hold }
sim: { seed: 8, noiseW: 10, auxW: 1kW }
`,
  );
  const { config } = await loadConfig(file, { strictFiles: true });
  sim = await startSimFromConfig(config, silentLogger());
  site = new Site(config, silentLogger(), { httpListen: null, minerPollMs: 300, meterPollMs: 250 });
  site.onEvent((e) => events.push(e));
  await site.start();
  await waitFor("eight miners hashing", () => site.snapshot().counts.hashing === 8, 15_000);
});

after(async () => {
  await site?.stop();
  await sim?.stop();
  await io?.stop();
});

test("closed: shed under activeBudgetW; open: released; module gone: the last state held", {
  timeout: 60_000,
}, async () => {
  io.setDiscreteInput(3, true);
  await waitFor("under 10 kW", () => site.snapshot().powerW! < 10_000, 20_000, 200);
  assert.ok(
    events.some((e) => e.kind === "signal-changed" && /dr-relay \(contact\) active 10 kW/.test(e.message)),
  );
  io.setDiscreteInput(3, false);
  await waitFor("released", () =>
    events.some(
      (e) => e.kind === "signal-changed" && /dr-relay \(contact\) idle: contact open/.test(e.message),
    ),
  );
  io.setDiscreteInput(3, true);
  await waitFor(
    "closed again",
    () => events.filter((e) => e.kind === "signal-changed" && /active 10 kW/.test(e.message)).length === 2,
  );
  await io.stop();
  await waitFor(
    "stale, holding",
    () =>
      events.some((e) =>
        /dr-relay \(contact\) stale 10 kW: module unreadable .*holding the last state \(closed\)/.test(
          e.message,
        ),
      ),
    10_000,
  );
  io = await startIoModuleSim({ host: "127.0.0.1", port: ioPort });
  io.setDiscreteInput(3, false);
  await waitFor(
    "open once readable again",
    () => events.filter((e) => /dr-relay \(contact\) idle: contact open/.test(e.message)).length === 2,
    10_000,
  );
});
