// exports.homeAssistant through a broker, as Home Assistant meets it: the
// discovery configs are retained and carry unique_id, state_topic,
// availability (the agent's status topic) and device; every state topic gets
// values; removing a GPU node from the config and reloading removes its
// entities (empty retained configs); commands exist only with acceptCommands,
// and then act through the site's intents.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connect, type MqttClient } from "mqtt";
import { startSimFromConfig } from "../../agent/cli/simulated-site.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { Site } from "../../agent/site/site.ts";
import { loadConfig } from "../../config/load.ts";
import type { GpuNodeSim } from "../../sim/gpu/server.ts";
import { type EmbeddedBroker, startEmbeddedBroker } from "../../sim/mqtt/broker.ts";
import { gpuNodesYaml, startGpuSims } from "../helpers/gpu-sims.ts";
import { testPort, waitFor } from "../helpers/ports.ts";
import { ticksPass } from "../helpers/site-events.ts";

const PREFIX = "homeassistant";
const BASE = "wattkeeper/v1/ha-site";

interface Seen {
  payload: string;
  retain: boolean;
}

/** A client that records the last message per topic (as HA's MQTT integration would see them). */
async function watcher(
  url: string,
  filters: string[],
): Promise<{ client: MqttClient; last: Map<string, Seen> }> {
  const client = connect(url, { protocolVersion: 4, clientId: `ha-${Math.random()}` });
  const last = new Map<string, Seen>();
  client.on("message", (topic, payload, packet) => {
    last.set(topic, { payload: payload.toString(), retain: packet.retain });
  });
  await new Promise<void>((r) => client.once("connect", () => r()));
  await client.subscribeAsync(filters, { qos: 1 });
  return { client, last };
}

describe("Home Assistant discovery", () => {
  let broker: EmbeddedBroker;
  let sim: Awaited<ReturnType<typeof startSimFromConfig>>;
  let gpus: GpuNodeSim[] = [];
  let dir: string;
  let site: Site | null = null;
  let base = "";
  const clients: MqttClient[] = [];

  const configWith = (gpuIds: string[], extra = "") =>
    `${base}${gpuNodesYaml(gpus.filter((g) => gpuIds.includes(g.id)))}${extra}`;

  async function startSite(text: string): Promise<Site> {
    writeFileSync(join(dir, "site.yaml"), text);
    const { config } = await loadConfig(join(dir, "site.yaml"), { strictFiles: true });
    const s = new Site(config, silentLogger(), { httpListen: null, minerPollMs: 300, meterPollMs: 250 });
    await s.start();
    return s;
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "wk-ha-"));
    broker = await startEmbeddedBroker({ port: await testPort() });
    base = `site: { id: ha-site, name: HA site, timezone: UTC, contractLimitW: 400kW }
store: { path: ./state.db }
mqtt: { url: ${broker.url}, protocolVersion: 4 }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${await testPort()}", unitId: 1 } }
miners:
  - { hosts: 127.101.0.1-127.101.0.6, dialect: luxos, location: container-A }
  - { hosts: 127.101.0.7-127.101.0.10, dialect: luxos, location: container-B }
control: { tickS: 0.5 }
sim: { seed: 9, noiseW: 20, auxW: 2kW }
`;
    writeFileSync(join(dir, "sim.yaml"), base);
    sim = await startSimFromConfig((await loadConfig(join(dir, "sim.yaml"))).config, silentLogger());
    gpus = await startGpuSims(["gpu-a", "gpu-b"], { dir, model: sim.model });
  });

  after(async () => {
    for (const c of clients) await c.endAsync(true);
    await site?.stop();
    await Promise.all(gpus.map((g) => g.stop()));
    await sim?.stop();
    await broker?.stop();
  });

  test("retained configs with the required keys; every state topic gets values; no command entities", {
    timeout: 60_000,
  }, async () => {
    site = await startSite(configWith(["gpu-a", "gpu-b"], "exports:\n  homeAssistant: {}\n"));
    await waitFor("miners hashing", () => site!.snapshot().counts.hashing === 10, 30_000);
    // a client that arrives later sees everything retained, as HA after a restart
    await ticksPass(site!, 5);
    const w = await watcher(broker.url, [`${PREFIX}/#`, `${BASE}/ha/#`, `${BASE}/status`]);
    clients.push(w.client);
    // the retained configs arrive one message at a time: wait for the last group's, not a count
    // that a half-delivered burst can already reach
    await waitFor(
      "discovery configs",
      () =>
        [...w.last.keys()].filter((t) => t.startsWith(PREFIX)).length >= 20 &&
        [...w.last].some(
          ([t, m]) =>
            t.startsWith(PREFIX) &&
            t.endsWith("/config") &&
            m.payload.includes(`${BASE}/ha/group/container_b"`),
        ),
      10_000,
    );
    const configs = [...w.last].filter(([t]) => t.startsWith(`${PREFIX}/`) && t.endsWith("/config"));
    const uniqueIds = new Set<string>();
    const stateTopics = new Map<string, string[]>();
    for (const [topic, m] of configs) {
      assert.equal(m.retain, true, `${topic} not retained`);
      const c = JSON.parse(m.payload) as {
        unique_id: string;
        state_topic: string;
        value_template: string;
        availability: Array<{ topic: string }>;
        device: { identifiers: string[]; name: string };
        command_topic?: string;
      };
      assert.match(topic, /^homeassistant\/sensor\/wattkeeper_ha_site\/[a-z0-9_]+\/config$/);
      assert.ok(c.unique_id && !uniqueIds.has(c.unique_id), `${topic}: unique_id ${c.unique_id}`);
      uniqueIds.add(c.unique_id);
      assert.ok(c.state_topic.startsWith(`${BASE}/ha/`), `${topic}: state_topic ${c.state_topic}`);
      assert.equal(c.availability[0]?.topic, `${BASE}/status`);
      assert.ok(c.device.identifiers.length > 0 && c.device.name, `${topic}: device`);
      assert.equal(c.command_topic, undefined, "a command entity without acceptCommands");
      const key = /value_json\.(\w+)/.exec(c.value_template)![1]!;
      stateTopics.set(c.state_topic, [...(stateTopics.get(c.state_topic) ?? []), key]);
    }
    // site, two GPU nodes, two miner groups
    assert.deepEqual([...stateTopics.keys()].sort(), [
      `${BASE}/ha/gpu/gpu_a`,
      `${BASE}/ha/gpu/gpu_b`,
      `${BASE}/ha/group/container_a`,
      `${BASE}/ha/group/container_b`,
      `${BASE}/ha/site`,
    ]);
    await waitFor(
      "every state topic with every value its entities read",
      () =>
        [...stateTopics].every(([t, keys]) => {
          const m = w.last.get(t);
          if (!m) return false;
          const s = JSON.parse(m.payload) as Record<string, unknown>;
          return keys.every((k) => k in s);
        }),
      10_000,
    );
    const siteState = JSON.parse(w.last.get(`${BASE}/ha/site`)!.payload) as Record<string, number | string>;
    assert.ok((siteState.power_w as number) > 10_000, `power ${siteState.power_w}`);
    assert.equal(siteState.hashing, 10);
    // aedes streams the retained messages one by one after the SUBACK, so the status topic's can
    // come after every state topic has already arrived live (they are published every tick)
    await waitFor("the availability topic", () => w.last.has(`${BASE}/status`), 10_000);
    const status = JSON.parse(w.last.get(`${BASE}/status`)!.payload) as { online: boolean };
    assert.equal(status.online, true, "availability topic says online");

    // a command topic is not listened to: nothing changes
    await w.client.publishAsync(`${BASE}/ha/set/mode`, "hold", { qos: 1 });
    await ticksPass(site!, 2);
    assert.equal(site.mode, "auto");
  });

  test("a GPU node removed from the config and reloaded: its entities are removed (empty retained configs)", {
    timeout: 60_000,
  }, async () => {
    const w = await watcher(broker.url, [`${PREFIX}/#`]);
    clients.push(w.client);
    await waitFor("configs seen", () => w.last.size >= 20, 10_000);
    const gpuB = [...w.last.keys()].filter((t) => t.includes("/gpu_gpu_b_"));
    assert.ok(gpuB.length >= 3, `gpu-b entities ${gpuB.length}`);
    // a reload replaces the site with one built from the new config
    await site!.stop();
    site = await startSite(configWith(["gpu-a"], "exports:\n  homeAssistant: {}\n"));
    await waitFor("gpu-b's configs emptied", () => gpuB.every((t) => w.last.get(t)?.payload === ""), 15_000);
    // and a client arriving now finds none of them retained, gpu-a's still there
    const fresh = await watcher(broker.url, [`${PREFIX}/#`]);
    clients.push(fresh.client);
    await waitFor("retained configs", () => fresh.last.size >= 20, 10_000);
    assert.equal([...fresh.last.keys()].filter((t) => t.includes("/gpu_gpu_b_")).length, 0);
    assert.ok([...fresh.last.keys()].some((t) => t.includes("/gpu_gpu_a_")));
  });

  test("with acceptCommands: a mode select and a lease number that act through the site's intents", {
    timeout: 60_000,
  }, async () => {
    await site!.stop();
    site = await startSite(configWith(["gpu-a"], "exports:\n  homeAssistant: { acceptCommands: true }\n"));
    const w = await watcher(broker.url, [`${PREFIX}/+/wattkeeper_ha_site/+/config`]);
    clients.push(w.client);
    await waitFor(
      "the command entities",
      () =>
        w.last.has(`${PREFIX}/select/wattkeeper_ha_site/site_mode_set/config`) &&
        w.last.has(`${PREFIX}/number/wattkeeper_ha_site/site_lease_kw/config`),
      10_000,
    );
    const number = JSON.parse(
      w.last.get(`${PREFIX}/number/wattkeeper_ha_site/site_lease_kw/config`)!.payload,
    ) as {
      command_topic: string;
      max: number;
    };
    assert.equal(number.max, 400);
    await w.client.publishAsync(`${BASE}/ha/set/mode`, "hold", { qos: 1 });
    await waitFor("hold mode", () => site!.mode === "hold", 5000);
    await w.client.publishAsync(number.command_topic, "250", { qos: 1 });
    await waitFor("a 250 kW lease", () => site!.budgetLease?.watts === 250_000, 5000);
    const audited = site!.audit!.recent(50).filter((a) => a.via === "homeassistant");
    assert.ok(
      audited.some((a) => a.action === "budget/set" && a.ok),
      JSON.stringify(audited),
    );
    // garbage is refused, nothing changes
    await w.client.publishAsync(`${BASE}/ha/set/mode`, "self-destruct", { qos: 1 });
    await w.client.publishAsync(number.command_topic, "-5", { qos: 1 });
    await ticksPass(site!, 2);
    assert.equal(site!.mode, "hold");
    assert.equal(site!.budgetLease?.watts, 250_000);
    // the contract or more ends the lease
    await w.client.publishAsync(number.command_topic, "400", { qos: 1 });
    await waitFor("the lease cleared", () => site!.budgetLease === null, 5000);
  });
});
