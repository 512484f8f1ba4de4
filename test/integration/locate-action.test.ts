// The locate action end to end, on simulated LuxOS miners (127.155.x.x), whose
// LED blinks until told: from the page (HTTP POST /api/actions as a logged-in
// operator) and from the central side (a signed MQTT device/action), through
// the control loop and the ledger to the simulator's LED and back — on, read
// back, then off again by the agent when the time is up (audited as "agent"),
// or at once with seconds 0; refused outside its bounds; and an end that
// outlives a restart of the agent.

import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { connect, type MqttClient } from "mqtt";
import { startSimFromConfig } from "../../agent/cli/simulated-site.ts";
import { hashPassword } from "../../agent/http/password.ts";
import { buildEnvelope, generateKeyPair, parsePrivateKey } from "../../agent/mqtt/signing.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { Site } from "../../agent/site/site.ts";
import type { Ledger } from "../../agent/store/ledger.ts";
import { loadConfig } from "../../config/load.ts";
import type { SiteConfig } from "../../config/schema.ts";
import { type EmbeddedBroker, startEmbeddedBroker } from "../../sim/mqtt/broker.ts";
import { testPort, waitFor } from "../helpers/ports.ts";
import { ticksPass } from "../helpers/site-events.ts";
import { call, cookieOf } from "./http-helpers.ts";

const SITE = "loc";
const ROOT = `wattkeeper/v1/${SITE}`;
const PASSWORD = "field-tech-7";
const ops = generateKeyPair();
const opsKey = parsePrivateKey(ops.privateKeyPem);

let sim: Awaited<ReturnType<typeof startSimFromConfig>>;
let broker: EmbeddedBroker;
let watcher: MqttClient;
let config: SiteConfig;
let site: Site;
let base: string;
const got: Array<{ topic: string; payload: string }> = [];

const M0 = "m-127-155-0-1";
const M1 = "m-127-155-0-2";
const M2 = "m-127-155-0-3";
const SITE_OPTS = { minerPollMs: 300, meterPollMs: 250 };

async function startSite(): Promise<Site> {
  const s = new Site(config, silentLogger(), { ...SITE_OPTS, httpListen: { host: "127.0.0.1", port: 0 } });
  await s.start();
  await waitFor("three miners hashing", () => s.snapshot().counts.hashing === 3, 15_000);
  base = `http://127.0.0.1:${s.httpAddress()!.port}`;
  return s;
}

before(async () => {
  broker = await startEmbeddedBroker({ port: await testPort() });
  const dir = mkdtempSync(join(tmpdir(), "wk-locate-"));
  writeFileSync(join(dir, "ops.pub.pem"), ops.publicKeyPem);
  const hash = await hashPassword(PASSWORD, { N: 1024, r: 8, p: 1 });
  const file = join(dir, "site.yaml");
  writeFileSync(
    file,
    `site: { id: ${SITE}, timezone: UTC, contractLimitW: 1MW }
store: { path: ./state.db }
http:
  operators:
    - { name: alice, passwordHash: "${hash}" }
mqtt:
  url: ${broker.url}
  protocolVersion: 4
  commandKeys: [{ name: ops, publicKeyFile: ./ops.pub.pem }]
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${await testPort()}", unitId: 1 } }
miners:
  - { hosts: 127.155.0.1-127.155.0.3, dialect: luxos, location: row-7 }
control: { tickS: 0.5, minOnS: 1s, minOffS: 1s, restoreStaggerS: 0 }
sim: { seed: 21, noiseW: 10, auxW: 1kW }
`,
  );
  config = (await loadConfig(file, { strictFiles: true })).config;
  sim = await startSimFromConfig(config, silentLogger());
  watcher = connect(broker.url, { protocolVersion: 4, clientId: "locate-watcher", reconnectPeriod: 200 });
  watcher.on("message", (topic, payload) => got.push({ topic, payload: payload.toString() }));
  await new Promise<void>((r) => watcher.once("connect", () => r()));
  await watcher.subscribeAsync(`${ROOT}/response/#`, { qos: 1 });
  site = await startSite();
});

after(async () => {
  await site?.stop();
  await watcher?.endAsync(true);
  await broker?.stop();
  await sim?.stop();
});

const led = (id: string) => sim.model.leds.isOn(id);
const ledgerOf = (s: Site) => (s as unknown as { ledger: Ledger }).ledger;

/** A signed device/action over MQTT; resolves with the site's response. */
async function mqttAction(body: Record<string, unknown>): Promise<{ ok: boolean; error?: string }> {
  const env = buildEnvelope(opsKey, { siteId: SITE, name: "device/action", keyName: "ops", body });
  const mark = got.length;
  await watcher.publishAsync(`${ROOT}/request/device/action`, JSON.stringify(env), { qos: 1 });
  const r = await waitFor("the device/action response", () =>
    got
      .slice(mark)
      .find((m) => m.topic === `${ROOT}/response/device/action` && JSON.parse(m.payload).id === env.id),
  );
  return JSON.parse(r.payload);
}

async function login() {
  const r = await call(base, "POST", "/api/login", {
    body: { name: "alice", password: PASSWORD },
    headers: { origin: base },
  });
  assert.equal(r.status, 200, r.text);
  return { cookie: cookieOf(r), "x-csrf-token": r.json.csrfToken as string, origin: base };
}

test("from the page: locate blinks the LED (read back), audited; the agent turns it off when the time is up", async () => {
  const headers = await login();
  const started = Date.now();
  const r = await call(base, "POST", "/api/actions", {
    body: { kind: "device", id: M0, action: "locate", seconds: 10, reason: "PSU swap" },
    headers,
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.ok, true);
  assert.match(
    r.json.detail as string,
    /^locate on for 10 s \(read back\); the firmware keeps it on until told; the agent turns it off at \d{4}-/,
  );
  assert.equal(led(M0), true, "the simulator's LED is on");
  const audit = site.audit!.recent(1)[0]!;
  assert.deepEqual([audit.action, audit.who, audit.via, audit.ok], ["device/action", "alice", "http", true]);
  assert.deepEqual(audit.body, { id: M0, action: "locate", seconds: 10, reason: "PSU swap" });
  const row = ledgerOf(site).events(1)[0]!;
  assert.deepEqual([row.deviceId, row.kind, row.origin, row.state], [M0, "locate", "operator", "done"]);
  assert.match(row.outcomeReason ?? "", /^locate on for 10 s \(read back\)/);
  assert.match(row.reason, /^operator alice: PSU swap$/);
  const event = site.recentEvents(10).find((e) => e.kind === "operator-action" && e.deviceId === M0);
  assert.match(event?.message ?? "", /^locate 10 s m-127-155-0-1 by alice: locate on for 10 s \(read back\)/);
  // nothing about it counts as power: no pending shed, no restore
  assert.equal(ledgerOf(site).view(Date.now()).devices.get(M0)?.pendingShed ?? null, null);

  await waitFor("the LED off again", () => !led(M0), 20_000, 100);
  const tookS = (Date.now() - started) / 1000;
  assert.ok(tookS >= 9.5, `off after ${tookS} s`);
  const off = await waitFor("the agent's off in the audit log", () =>
    site.audit!.recent(10).find((a) => a.who === "agent" && a.action === "device/action"),
  );
  assert.deepEqual([off.via, off.ok], ["local", true]);
  assert.deepEqual(off.body, {
    id: M0,
    action: "locate",
    seconds: 0,
    reason: "locate ended after 10 s (asked by alice)",
  });
  const offRow = ledgerOf(site).events(1)[0]!;
  assert.deepEqual([offRow.kind, offRow.state], ["locate", "done"]);
  assert.match(offRow.outcomeReason ?? "", /^locate off \(read back\)/);
  // on, then off: the LED's own history
  assert.deepEqual(
    sim.model.leds.history.filter((h) => h.id === M0).map((h) => h.on),
    [true, false],
  );
});

test("from the page: bad seconds are refused with the reason, nothing sent", async () => {
  const headers = await login();
  const before = sim.model.leds.history.length;
  const r = await call(base, "POST", "/api/actions", {
    body: { kind: "device", id: M0, action: "locate", seconds: 5 },
    headers,
  });
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.error as string, /seconds: locate: 0 \(off\) or 10–3600 s, got 5/);
  assert.equal(sim.model.leds.history.length, before);
});

test("over MQTT: a signed locate turns the LED on, seconds 0 off at once; each audited with its key", async () => {
  const on = await mqttAction({ id: M1, action: "locate", seconds: "2m" });
  assert.equal(on.ok, true, on.error);
  assert.equal(led(M1), true);
  const off = await mqttAction({ id: M1, action: "locate", seconds: 0 });
  assert.equal(off.ok, true, off.error);
  assert.equal(led(M1), false);
  const audit = site.audit!.recent(2);
  assert.deepEqual(
    audit.map((a) => [a.via, a.who, a.ok, (a.body as { seconds: number }).seconds]),
    [
      ["mqtt", "ops", true, 0],
      ["mqtt", "ops", true, 120],
    ],
  );
  const bad = await mqttAction({ id: M1, action: "locate", seconds: 7200 });
  assert.equal(bad.ok, false);
  assert.match(bad.error ?? "", /^schema: seconds: must be at most 3600 s/);
  const gpu = await mqttAction({ id: "nope", action: "locate" });
  assert.deepEqual([gpu.ok, gpu.error], [false, 'unknown device "nope"']);
  // the off left nothing for the agent to end: the LED stays off
  await ticksPass(site, 2);
  assert.equal(led(M1), false);
});

test("an end the agent holds outlives a restart: the next agent turns the LED off when the time is up", async () => {
  const on = await mqttAction({ id: M2, action: "locate", seconds: 10 });
  assert.equal(on.ok, true, on.error);
  const startedAt = Date.now();
  assert.equal(led(M2), true);
  await site.stop();
  site = await startSite();
  assert.equal(led(M2), true, "still blinking after the restart");
  await waitFor("the LED off after the restart", () => !led(M2), 20_000, 100);
  assert.ok(Date.now() - startedAt >= 9_500, "not before its time");
  // the audit entry comes once the off is read back, a moment after the LED goes dark
  const off = await waitFor("the agent's off of M2 in the audit log", () =>
    site.audit!.recent(10).find((a) => a.who === "agent" && (a.body as { id: string }).id === M2),
  );
  assert.deepEqual([off.via, off.ok], ["local", true]);
});
