import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "mqtt";
import { startSimFromConfig } from "../../agent/cli/simulated-site.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { pricesRefused } from "../../agent/runtime/metrics.ts";
import { Site } from "../../agent/site/site.ts";
import type { SiteEvent } from "../../agent/store/events.ts";
import { loadConfig } from "../../config/load.ts";
import { startEmbeddedBroker } from "../../sim/mqtt/broker.ts";
import { testPort } from "../helpers/ports.ts";

export interface MqttSiteRecords {
  /** What the broker received from the agent, in the order it received it. */
  atBroker: Array<{ topic: string; payload: string }>;
  got: Array<{ topic: string; payload: string; at: number }>;
  events: SiteEvent[];
}

/** Starts broker, simulator, watcher and Site for site id `SITE`, with `ops` trusted for commands. */
export async function startMqttSite(
  SITE: string,
  ops: { publicKeyPem: string },
  { atBroker, got, events }: MqttSiteRecords,
) {
  const ROOT = `wattkeeper/v1/${SITE}`;
  const broker = await startEmbeddedBroker({ port: await testPort() });
  broker.broker.on("publish", (packet, client) => {
    if (client?.id.startsWith("wattkeeper-"))
      atBroker.push({ topic: packet.topic, payload: packet.payload.toString() });
  });
  const dir = mkdtempSync(join(tmpdir(), "wk-mqtt-"));
  writeFileSync(join(dir, "ops.pub.pem"), ops.publicKeyPem);
  const file = join(dir, "site.yaml");
  // 6 LuxOS miners ≈ 19 kW under a 1 MW contract
  writeFileSync(
    file,
    `site: { id: ${SITE}, timezone: UTC, contractLimitW: 1MW }
store: { path: ./state.db }
mqtt:
  url: ${broker.url}
  protocolVersion: 4
  commandSkewS: 60
  maxCommandBytes: 2048
  commandKeys: [{ name: ops, publicKeyFile: ./ops.pub.pem }]
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${await testPort()}", unitId: 1 } }
miners:
  - { hosts: 127.106.0.1-127.106.0.6, dialect: luxos }
control:
  tickS: 0.5
  minOnS: 1s
  minOffS: 1s
  restoreStaggerS: 0
  shedMarginW: 500
  restoreMarginW: 2kW
  rampUpWPerMin: 1MW
  economics: { hashpricePerThDay: 0.05, energyPriceTopic: prices/test/energy }
sim: { seed: 7, noiseW: 10, auxW: 1kW }
`,
  );
  const sim = await startSimFromConfig(
    (await loadConfig(file, { strictFiles: true })).config,
    silentLogger(),
  );
  const watcher = connect(broker.url, {
    protocolVersion: 4,
    clientId: "watcher",
    clean: false,
    reconnectPeriod: 200,
  });
  watcher.on("message", (topic, payload) => got.push({ topic, payload: payload.toString(), at: Date.now() }));
  await new Promise<void>((r) => watcher.once("connect", () => r()));
  await watcher.subscribeAsync(`${ROOT}/#`, { qos: 1 });
  const { config } = await loadConfig(file, { strictFiles: true });
  const site = new Site(config, silentLogger(), {
    httpListen: { host: "127.0.0.1", port: 0 },
    minerPollMs: 300,
    meterPollMs: 250,
    version: "9.9.9",
  });
  site.onEvent((e) => events.push(e));
  await site.start();
  return { broker, sim, watcher, file, site };
}

/** Price messages refused for `reason` so far in this process (the metric counts every one; the alarm only the first). */
export async function refusedTotal(reason: string): Promise<number> {
  const { values } = await pricesRefused.get();
  return values.filter((v) => v.labels.reason === reason).reduce((n, v) => n + v.value, 0);
}
