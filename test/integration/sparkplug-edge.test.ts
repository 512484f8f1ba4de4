// The Sparkplug B edge node of a Site on the simulated site and an in-process
// aedes broker (the peer suite runs the same against Mosquitto): NBIRTH and
// DBIRTHs decoded with the Tahu codec, a connection cut by the broker → the
// will NDEATH with the session's bdSeq, then a new session with the next one;
// writes refused with commands off (audited, nothing applied); a clean stop
// ends with DDEATHs and the NDEATH.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { connect, type MqttClient } from "mqtt";
import sparkplugPayload from "sparkplug-payload";
import type { UPayload } from "sparkplug-payload/lib/sparkplugbpayload.js";
import { startSimFromConfig } from "../../agent/cli/simulated-site.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { Site } from "../../agent/site/site.ts";
import { loadConfig } from "../../config/load.ts";
import { type EmbeddedBroker, startEmbeddedBroker } from "../../sim/mqtt/broker.ts";
import { testPort, waitFor } from "../helpers/ports.ts";

const spB = sparkplugPayload.get("spBv1.0")!;
const EDGE = "edge-i";
let broker: EmbeddedBroker;
let host: MqttClient;
const inbox: Array<{ type: string; device: string | null; payload: UPayload }> = [];

const bdSeqOf = (p: UPayload) => Number(p.metrics?.find((m) => m.name === "bdSeq")?.value);

before(async () => {
  broker = await startEmbeddedBroker({ port: await testPort() });
  host = connect(broker.url, { protocolVersion: 4, clientId: "host-app" });
  await new Promise<void>((r) => host.once("connect", () => r()));
  host.on("message", (topic, payload) => {
    const p = topic.split("/");
    inbox.push({ type: p[2] ?? "", device: p[4] ?? null, payload: spB.decodePayload(payload) });
  });
  await host.subscribeAsync(`spBv1.0/wk/+/${EDGE}/#`, { qos: 1 });
  await host.subscribeAsync(`spBv1.0/wk/+/${EDGE}`, { qos: 1 });
});

after(async () => {
  await host?.endAsync(true);
  await broker?.stop();
});

test("births, the will on a cut connection, a new bdSeq, refused writes, a clean stop", {
  timeout: 60_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), "wk-spb-i-"));
  const file = join(dir, "site.yaml");
  writeFileSync(
    file,
    `site: { id: spb-int, timezone: UTC, contractLimitW: 1MW }
store: { path: ./state.db }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${await testPort()}", unitId: 1 } }
miners:
  - { hosts: 127.97.0.1-127.97.0.4, dialect: luxos }
exports:
  sparkplug: { groupId: wk, edgeNodeId: ${EDGE}, url: "${broker.url}" }
sim: { seed: 3, noiseW: 50, auxW: 1kW }
`,
  );
  const { config } = await loadConfig(file, { strictFiles: true });
  const sim = await startSimFromConfig(config, silentLogger());
  const site = new Site(config, silentLogger(), { httpListen: null, minerPollMs: 300, meterPollMs: 250 });
  try {
    await site.start();
    const birth = await waitFor("NBIRTH", () => inbox.find((m) => m.type === "NBIRTH"));
    const bdSeq = bdSeqOf(birth.payload);
    assert.equal(Number(birth.payload.seq), 0);
    await waitFor("five DBIRTHs", () => inbox.filter((m) => m.type === "DBIRTH").length === 5);

    // the broker loses the node's connection: it publishes the will, the node comes back with bdSeq + 1
    const i1 = inbox.length;
    const clients = (broker.broker as unknown as { clients: Record<string, { conn: { destroy(): void } }> })
      .clients;
    const id = Object.keys(clients).find((k) => k.startsWith("wattkeeper-spb-"));
    assert.ok(id, "the edge node has a session of its own");
    clients[id]!.conn.destroy();
    const will = await waitFor("the will NDEATH", () => inbox.slice(i1).find((m) => m.type === "NDEATH"));
    assert.equal(bdSeqOf(will.payload), bdSeq);
    const again = await waitFor(
      "NBIRTH of the next session",
      () => inbox.slice(i1).find((m) => m.type === "NBIRTH"),
      10_000,
    );
    assert.equal(bdSeqOf(again.payload), (bdSeq + 1) % 256);

    // writes with commands off: audited, not applied
    const cmd = (topic: string, name: string, value: string) =>
      host.publishAsync(
        topic,
        Buffer.from(spB.encodePayload({ timestamp: Date.now(), metrics: [{ name, type: "String", value }] })),
      );
    await cmd(`spBv1.0/wk/NCMD/${EDGE}`, "Control/Mode", "hold");
    await cmd(`spBv1.0/wk/DCMD/${EDGE}/m-127-97-0-1`, "Control/Action", "sleep");
    await waitFor(
      "two refusals audited",
      () =>
        (site.audit?.recent(20) ?? []).filter((e) => e.via === "sparkplug" && e.reason === "commands-off")
          .length >= 2,
    );
    assert.equal(site.mode, "auto");

    const i2 = inbox.length;
    await site.stop();
    const death = await waitFor("NDEATH on stop", () => inbox.slice(i2).find((m) => m.type === "NDEATH"));
    assert.equal(bdSeqOf(death.payload), (bdSeq + 1) % 256);
    assert.equal(inbox.slice(i2).filter((m) => m.type === "DDEATH").length, 5);
  } finally {
    await site.stop().catch(() => undefined);
    await sim.stop();
  }
});
