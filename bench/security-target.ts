// The site under attack in `npm run security`: one real Site on the simulator
// (4 LuxOS miners, a site meter), an embedded broker (aedes, MQTT 3.1.1) with a
// "central" client that signs and sends commands, and plain HTTP from chosen
// source addresses. The attack-family modules reach the site only through this.
import { mkdtempSync, writeFileSync } from "node:fs";
import { type IncomingMessage, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type MqttClient } from "mqtt";
import { startSimFromConfig } from "../agent/cli/simulated-site.ts";
import { hashPassword } from "../agent/http/password.ts";
import { generateKeyPair, parsePrivateKey } from "../agent/mqtt/signing.ts";
import { silentLogger } from "../agent/runtime/logger.ts";
import { Site } from "../agent/site/site.ts";
import type { SiteEvent } from "../agent/store/events.ts";
import { loadConfig } from "../config/load.ts";
import { startEmbeddedBroker } from "../sim/mqtt/broker.ts";
import { testPort } from "../test/helpers/ports.ts";
import { commandSigner } from "../test/helpers/signing.ts";

export const SITE = "sec";
export const ROOT = `wattkeeper/v1/${SITE}`;
export const SKEW_S = 60;
export const MAX_BYTES = 4096;
export const MINERS = 4;
export const ENERGY_TOPIC = "prices/sec/energy";
export const HASH_TOPIC = "prices/sec/hash";
export const PASSWORD = "the-real-operator";

type Key = ReturnType<typeof parsePrivateKey>;
export interface Reply {
  ok: boolean;
  error?: string;
}
export interface HttpReply {
  status: number;
  headers: IncomingMessage["headers"];
  json: Record<string, unknown>;
}

export interface Target {
  site: Site;
  /** Every event the site has emitted since it started. */
  events: SiteEvent[];
  central: MqttClient;
  /** Answers by command id (a case drops one to send the same id again). */
  responses: Map<string, Reply>;
  base: string;
  httpPort: number;
  dbPath: string;
  opsKey: Key;
  /** A key the site does not know. */
  rogue: Key;
  sign: ReturnType<typeof commandSigner>;
  /** Publishes a command and waits up to 5 s for its answer (by id, or the next one without an id). */
  send(name: string, payload: string | Buffer, id: string): Promise<Reply | null>;
  /** A plain HTTP request from a chosen source address. */
  http(
    method: string,
    path: string,
    o?: { body?: unknown; headers?: Record<string, string>; from?: string },
  ): Promise<HttpReply>;
  metrics(): Promise<string>;
  /** The effective budget, as the last tick saw it. */
  budgetW(): number | null;
  stop(): Promise<void>;
}

function siteYaml(o: { brokerUrl: string; passwordHash: string; meterPort: number }): string {
  return `site: { id: ${SITE}, timezone: UTC, contractLimitW: 1MW }
store: { path: ./state.db }
http:
  operators: [{ name: tech, passwordHash: "${o.passwordHash}" }]
mqtt:
  url: ${o.brokerUrl}
  protocolVersion: 4
  commandSkewS: ${SKEW_S}
  maxCommandBytes: ${MAX_BYTES}
  commandKeys: [{ name: ops, publicKeyFile: ./ops.pub.pem }]
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${o.meterPort}", unitId: 1 } }
miners:
  - { hosts: 127.67.1.1-127.67.1.${MINERS}, dialect: luxos }
control:
  tickS: 1
  economics: { energyPriceTopic: ${ENERGY_TOPIC}, hashpriceTopic: ${HASH_TOPIC}, signedPrices: true }
exports:
  sparkplug: { groupId: sec, edgeNodeId: gw }
sim: { seed: 3, noiseW: 10, auxW: 1kW }
`;
}

function httpFrom(base: string): Target["http"] {
  return (method, path, o = {}) => {
    const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
    return new Promise((resolve, reject) => {
      const req = request(
        new URL(path, base),
        {
          method,
          localAddress: o.from,
          agent: false,
          headers: { ...(payload ? { "content-type": "application/json" } : {}), ...o.headers },
          timeout: 15_000,
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => {
            text += d;
          });
          res.on("end", () => {
            let json: Record<string, unknown> = {};
            try {
              json = JSON.parse(text) as Record<string, unknown>;
            } catch {}
            resolve({ status: res.statusCode ?? 0, headers: res.headers, json });
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error("timed out")));
      req.on("error", reject);
      req.end(payload);
    });
  };
}

export async function startTarget(): Promise<Target> {
  const broker = await startEmbeddedBroker({ port: await testPort() });
  const dir = mkdtempSync(join(tmpdir(), "wk-security-"));
  const ops = generateKeyPair();
  const opsKey = parsePrivateKey(ops.privateKeyPem);
  const rogue = parsePrivateKey(generateKeyPair().privateKeyPem);
  writeFileSync(join(dir, "ops.pub.pem"), ops.publicKeyPem);
  const file = join(dir, "site.yaml");
  const passwordHash = await hashPassword(PASSWORD);
  writeFileSync(file, siteYaml({ brokerUrl: broker.url, passwordHash, meterPort: await testPort() }));
  const { config } = await loadConfig(file, { strictFiles: true });
  const sim = await startSimFromConfig(config, silentLogger());
  const site = new Site(config, silentLogger(), {
    httpListen: { host: "127.0.0.1", port: 0 },
    minerPollMs: 1000,
  });
  const events: SiteEvent[] = [];
  site.onEvent((e) => events.push(e));
  await site.start();
  const httpPort = site.httpAddress()!.port;
  const base = `http://127.0.0.1:${httpPort}`;

  const central = connect(broker.url, { protocolVersion: 4, clientId: "central", reconnectPeriod: 500 });
  const responses = new Map<string, Reply>();
  /** Answers to payloads whose id could not be read (oversized: refused before parsing; malformed). */
  const anonymous: Reply[] = [];
  central.on("message", (_topic, payload) => {
    try {
      const r = JSON.parse(payload.toString()) as Reply & { id?: string | null };
      if (r.id) responses.set(r.id, r);
      else anonymous.push(r);
    } catch {}
  });
  await new Promise<void>((r) => central.once("connect", () => r()));
  await central.subscribeAsync(`${ROOT}/response/#`, { qos: 1 });
  // the agent subscribes once its link is up
  await new Promise((r) => setTimeout(r, 1500));

  let lastBudgetW: number | null = null;
  site.onTick((t) => {
    lastBudgetW = t.budget?.budgetW ?? null;
  });
  return {
    site,
    events,
    central,
    responses,
    base,
    httpPort,
    dbPath: join(dir, "state.db"),
    opsKey,
    rogue,
    sign: commandSigner(SITE, opsKey),
    send: async (name, payload, id) => {
      const mark = anonymous.length;
      await central.publishAsync(`${ROOT}/request/${name}`, payload, { qos: 1 });
      const end = Date.now() + 5000;
      while (Date.now() < end) {
        const r = responses.get(id) ?? anonymous[mark];
        if (r) return r;
        await new Promise((res) => setTimeout(res, 5));
      }
      return null;
    },
    http: httpFrom(base),
    metrics: async () => (await fetch(`${base}/metrics`)).text(),
    budgetW: () => lastBudgetW,
    stop: async () => {
      await central.endAsync(true);
      await site.stop();
      await sim.stop();
      await broker.stop();
    },
  };
}
