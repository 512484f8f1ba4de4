// signals.target on a second broker no one here wrote: Debian's Mosquitto
// plays the aggregator's broker (the site has no mqtt section of its own).
// Target 0 → every flexible miner asleep; target 100 → they come back; the
// feed goes silent → failPolicy closed curtails again within staleS + a tick.
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { connect, type MqttClient } from "mqtt";
import { startSimFromConfig } from "../../agent/cli/simulated-site.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { Site } from "../../agent/site/site.ts";
import { loadConfig } from "../../config/load.ts";
import { testPort, waitFor } from "../helpers/ports.ts";
import { startPlainMosquitto } from "./mosquitto.ts";

const TOPIC = "maestro/mq-target/target";
const STALE_S = 3;
const TICK_S = 0.5;
let broker: ChildProcess;
let aggregator: MqttClient;
let site: Site;
let sim: Awaited<ReturnType<typeof startSimFromConfig>>;

before(async () => {
  const m = await startPlainMosquitto();
  broker = m.process;
  const port = m.port;
  const dir = mkdtempSync(join(tmpdir(), "wk-target-"));
  const file = join(dir, "site.yaml");
  writeFileSync(
    file,
    `site: { id: mq-target, timezone: UTC, contractLimitW: 1MW }
store: { path: ./state.db }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${await testPort()}", unitId: 1 } }
miners:
  - { hosts: 127.94.0.1-127.94.0.12, dialect: luxos }
control: { tickS: ${TICK_S}, shedMarginW: 500, restoreMarginW: 1500, minOnS: 1s, minOffS: 1s, restoreStaggerS: 0, rampUpWPerMin: 10MW }
signals:
  target: { name: aggregator, url: "mqtt://127.0.0.1:${port}", protocolVersion: 5, topic: ${TOPIC}, staleS: ${STALE_S}s, failPolicy: closed }
sim: { seed: 6, noiseW: 10, auxW: 1kW }
`,
  );
  const { config } = await loadConfig(file, { strictFiles: true });
  sim = await startSimFromConfig(config, silentLogger());
  site = new Site(config, silentLogger(), { httpListen: null, minerPollMs: 300, meterPollMs: 250 });
  await site.start();
  aggregator = connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, clientId: "aggregator" });
  await new Promise<void>((r) => aggregator.once("connect", () => r()));
  await waitFor("twelve miners hashing", () => site.snapshot().counts.hashing === 12, 15_000);
});

after(async () => {
  await aggregator?.endAsync(true);
  await site?.stop();
  await sim?.stop();
  broker?.kill("SIGKILL");
});

/** The timestamp (ms, whole seconds as aggregators send it) of the last target published. */
let lastStampMs = 0;
const publish = (target: number) => {
  lastStampMs = Math.floor(Date.now() / 1000) * 1000;
  return aggregator.publishAsync(TOPIC, JSON.stringify({ target, timestamp: lastStampMs / 1000 }), {
    qos: 1,
  });
};

test("target 0 sleeps the flexible load, 100 restores it; a silent feed curtails (failPolicy closed)", {
  timeout: 90_000,
}, async (t) => {
  // republished every second, as an aggregator does every ~30 s
  let target = 0;
  const feed = setInterval(() => void publish(target), 1000);
  try {
    await publish(target);
    await waitFor("every flexible miner asleep", () => site.snapshot().counts.sleeping === 12, 20_000, 200);
    target = 100;
    await publish(target);
    await waitFor(
      "back to hashing",
      () => site.snapshot().counts.hashing + site.snapshot().counts.starting === 12,
      20_000,
      200,
    );
  } finally {
    clearInterval(feed);
  }
  await waitFor(
    "the failPolicy applied",
    () => site.snapshot().counts.sleeping > 0,
    (STALE_S + 10) * 1000,
    100,
  );
  // measured from the last target's own timestamp: staleness counts from when it was issued
  const s = (Date.now() - lastStampMs) / 1000;
  t.diagnostic(`first sleep ${s.toFixed(1)} s after the last target's timestamp (staleS ${STALE_S})`);
  // stale after staleS, acted on at the next tick, plus the sleep's round trip
  assert.ok(s <= STALE_S + TICK_S + 1.5, `${s} s`);
  assert.ok(s >= STALE_S, `not before the feed is stale: ${s} s`);
});
