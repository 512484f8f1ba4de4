// The MQTT channel against a broker no one here wrote: Debian's Mosquitto 2
// on loopback with TLS (a CA and server certificate made with the openssl
// CLI) and a password file, over MQTT 5 (response topic and correlation data)
// and MQTT 3.1.1. Also: a wrong password is reported; a second listener
// requires a client certificate (mutual TLS); a broker killed with SIGKILL is
// reconnected to, the command subscription comes back, and the outbox drains.
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connect, type MqttClient } from "mqtt";
import { sendSigned } from "../../agent/cli/send.ts";
import { startSimFromConfig } from "../../agent/cli/simulated-site.ts";
import { buildEnvelope, generateKeyPair, parsePrivateKey } from "../../agent/mqtt/signing.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { Site } from "../../agent/site/site.ts";
import { loadConfig } from "../../config/load.ts";
import { testPort, waitFor } from "../helpers/ports.ts";
import {
  type Broker,
  makeCerts,
  makePasswordFile,
  mosquitto,
  PASSWORD,
  requireMosquitto,
  USER,
} from "./mosquitto-tls-fixtures.ts";

let dir: string;
let broker: Broker;
let sim: Awaited<ReturnType<typeof startSimFromConfig>>;
const ops = generateKeyPair();

before(async () => {
  requireMosquitto();
  dir = mkdtempSync(join(tmpdir(), "wk-mosq-"));
  // mosquitto started as root drops to its own user: it must read these
  chmodSync(dir, 0o755);
  makeCerts(dir);
  for (const f of ["server.key", "ca.pem", "server.pem", "client.key", "client.pem"])
    chmodSync(join(dir, f), 0o644);
  makePasswordFile(join(dir, "passwd"));
  chmodSync(join(dir, "passwd"), 0o644);
  writeFileSync(join(dir, "mqtt.pass"), `${PASSWORD}\n`);
  writeFileSync(join(dir, "wrong.pass"), "not-the-password\n");
  writeFileSync(join(dir, "ops.pub.pem"), ops.publicKeyPem);
  broker = mosquitto(dir, await testPort(), await testPort());
  await broker.start();
  const meterPort = await testPort();
  writeFileSync(
    join(dir, "sim.yaml"),
    siteYaml("simsrc", 4, meterPort).replace(/^mqtt:[\s\S]*?(?=^meters:)/m, ""),
  );
  sim = await startSimFromConfig(
    (await loadConfig(join(dir, "sim.yaml"), { strictFiles: true })).config,
    silentLogger(),
  );
  meter = meterPort;
});
let meter = 0;

after(async () => {
  await broker?.kill();
  await sim?.stop();
});

interface SiteOpts {
  passFile?: string;
  /** The mutual-TLS listener; with or without the client certificate. */
  mtls?: "with-cert" | "without-cert";
}

function siteYaml(id: string, version: 4 | 5, meterPort: number, o: SiteOpts = {}): string {
  const port = o.mtls ? broker.mtlsPort : broker.port;
  const cert = o.mtls === "with-cert" ? "\n  certFile: ./client.pem\n  keyFile: ./client.key" : "";
  return `site: { id: ${id}, timezone: UTC, contractLimitW: 1MW }
store: { path: ./${id}.db }
mqtt:
  url: mqtts://127.0.0.1:${port}
  protocolVersion: ${version}
  username: ${USER}
  passwordFile: ./${o.passFile ?? "mqtt.pass"}
  caFile: ./ca.pem${cert}
  commandKeys: [{ name: ops, publicKeyFile: ./ops.pub.pem }]
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${meterPort}", unitId: 1 } }
miners:
  - { hosts: 127.107.0.1-127.107.0.4, dialect: luxos }
control: { tickS: 0.5, minOnS: 1s, minOffS: 1s, restoreStaggerS: 0 }
sim: { seed: 3, noiseW: 10, auxW: 1kW }
`;
}

async function startSite(id: string, version: 4 | 5, o: SiteOpts = {}) {
  writeFileSync(join(dir, `${id}.yaml`), siteYaml(id, version, meter, o));
  const { config } = await loadConfig(join(dir, `${id}.yaml`), { strictFiles: true });
  const site = new Site(config, silentLogger(), {
    httpListen: { host: "127.0.0.1", port: 0 },
    minerPollMs: 300,
    meterPollMs: 250,
    version: "peer",
  });
  await site.start();
  return site;
}

async function brokerStatus(site: Site) {
  const a = site.httpAddress()!;
  const j = (await (await fetch(`http://127.0.0.1:${a.port}/api/site`)).json()) as {
    broker: Record<string, unknown>;
  };
  return j.broker;
}

function watch(version: 4 | 5): Promise<{
  client: MqttClient;
  got: Array<{ topic: string; payload: string; props: Record<string, unknown> | undefined }>;
}> {
  const got: Array<{ topic: string; payload: string; props: Record<string, unknown> | undefined }> = [];
  const client = connect(`mqtts://127.0.0.1:${broker.port}`, {
    protocolVersion: version,
    username: USER,
    password: PASSWORD,
    ca: readFileSync(join(dir, "ca.pem")),
    reconnectPeriod: 0,
  });
  client.on("message", (topic, payload, packet) =>
    got.push({
      topic,
      payload: payload.toString(),
      props: packet.properties as Record<string, unknown> | undefined,
    }),
  );
  return new Promise((resolve, reject) => {
    client.once("connect", () => resolve({ client, got }));
    client.once("error", reject);
  });
}

const send = (siteId: string, version: 4 | 5, name: string, body: unknown) =>
  sendSigned({
    url: `mqtts://127.0.0.1:${broker.port}`,
    protocolVersion: version,
    ca: readFileSync(join(dir, "ca.pem"), "utf8"),
    username: USER,
    password: PASSWORD,
    topicRoot: "wattkeeper/v1",
    siteId,
    privateKeyPem: ops.privateKeyPem,
    keyName: "ops",
    name,
    body,
    timeoutMs: 10_000,
  });

for (const version of [5, 4] as const) {
  describe(`Mosquitto 2, TLS + password, MQTT ${version === 5 ? "5" : "3.1.1"}`, () => {
    const id = `peer-v${version}`;
    const root = `wattkeeper/v1/${id}`;
    let site: Site;
    let w: Awaited<ReturnType<typeof watch>>;
    before(async () => {
      w = await watch(version);
      await w.client.subscribeAsync(`${root}/#`, { qos: 1 });
      site = await startSite(id, version);
    });
    after(async () => {
      await site?.stop();
      await w?.client.endAsync(true);
    });

    test("birth, telemetry and a signed command with its response", async () => {
      await waitFor("connected", async () => (await brokerStatus(site)).connected === true, 20_000);
      await waitFor("status online", () =>
        w.got.some((m) => m.topic === `${root}/status` && JSON.parse(m.payload).online),
      );
      await waitFor("site telemetry", () => w.got.some((m) => m.topic === `${root}/telemetry/site`));
      const r = await send(id, version, "budget/set", { watts: 800_000, ttlS: 300, reason: "peer" });
      assert.equal(r.code, 0, JSON.stringify(r));
      assert.equal(site.budgetLease?.watts, 800_000);
      if (!("response" in r)) return;
      // the sender has its copy; the watcher's may still be on the way
      const onMain = await waitFor("response on the site's response topic", () =>
        w.got.find(
          (m) => m.topic === `${root}/response/budget/set` && JSON.parse(m.payload).id === r.response.id,
        ),
      );
      assert.ok(onMain);
      if (version === 5) {
        // the MQTT 5 response topic the sender asked for, with its correlation data
        const onRt = await waitFor("response on the MQTT 5 response topic", () =>
          w.got.find((m) => m.topic === `${root}/response/budget/set/${r.response.id}`),
        );
        assert.equal(Buffer.from(onRt.props?.correlationData as Buffer).toString(), r.response.id);
      }
      // a forged one is refused and changes nothing
      const forged = buildEnvelope(parsePrivateKey(generateKeyPair().privateKeyPem), {
        siteId: id,
        name: "mode/set",
        keyName: "ops",
        body: { mode: "hold" },
      });
      await w.client.publishAsync(`${root}/request/mode/set`, JSON.stringify(forged), { qos: 1 });
      const refusal = await waitFor("refusal", () =>
        w.got.find((m) => m.topic === `${root}/response/mode/set` && JSON.parse(m.payload).id === forged.id),
      );
      assert.match(JSON.parse(refusal.payload).error, /^bad-signature:/);
      assert.equal(site.mode, "auto");
    });

    if (version === 5) {
      test("broker killed and restarted: the link comes back, resubscribes, the outbox drains", async () => {
        await broker.kill();
        await waitFor("link down", async () => (await brokerStatus(site)).connected === false, 10_000);
        await waitFor(
          "outbox fills",
          async () => ((await brokerStatus(site)).outboxMessages as number) > 5,
          10_000,
        );
        await broker.start();
        await waitFor("link back", async () => (await brokerStatus(site)).connected === true, 30_000);
        await waitFor("outbox drained", async () => (await brokerStatus(site)).outboxMessages === 0, 20_000);
        const r = await send(id, version, "ping", {});
        assert.equal(r.code, 0, JSON.stringify(r));
        await w.client.endAsync(true);
        w = await watch(version);
      });
    }
  });
}

test("a wrong broker password: not connected, the reason reported", async () => {
  const site = await startSite("peer-badpass", 5, { passFile: "wrong.pass" });
  try {
    const b = await waitFor(
      "refused",
      async () => {
        const s = await brokerStatus(site);
        return s.error ? s : null;
      },
      15_000,
    );
    assert.equal(b.connected, false);
    assert.match(String(b.error), /not authorized|bad user name or password/i);
  } finally {
    await site.stop();
  }
});

test("mutual TLS: connected with the client certificate, refused without it", async (t) => {
  const withCert = await startSite("peer-mtls", 5, { mtls: "with-cert" });
  const without = await startSite("peer-nocert", 5, { mtls: "without-cert" });
  try {
    await waitFor(
      "connected with a client certificate",
      async () => (await brokerStatus(withCert)).connected === true,
      20_000,
    );
    const b = await waitFor(
      "refused without one",
      async () => {
        const s = await brokerStatus(without);
        return s.error ? s : null;
      },
      20_000,
    );
    assert.equal(b.connected, false);
    assert.match(String(b.error), /certificate required|alert|ECONNRESET|socket hang up/i);
    t.diagnostic(`without a client certificate: ${String(b.error)}`);
  } finally {
    await withCert.stop();
    await without.stop();
  }
});
