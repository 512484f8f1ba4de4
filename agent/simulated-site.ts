// Starts the embedded simulated site described by a config's `sim:` section:
// every configured miner and Modbus TCP meter on a loopback address is served
// by the simulator, so `npm start` runs the real drivers against real sockets;
// without an `mqtt:` section it also gets an embedded broker and a demo key.
import { existsSync, readFileSync } from "node:fs";
import { isIP } from "node:net";
import { dirname, join, relative } from "node:path";
import { MqttSchema } from "../config/schema/mqtt.ts";
import type { MqttConfig, SiteConfig } from "../config/schema.ts";
import { startSimSite } from "../sim/site.ts";
import type { Logger } from "./logger.ts";

const isLoopback = (host: string) =>
  host === "localhost" || (isIP(host) === 4 && host.startsWith("127.")) || host === "::1";

export async function startSimFromConfig(config: SiteConfig, logger: Logger) {
  const sim = config.sim;
  if (!sim) throw new Error("config has no sim section");
  const miners = config.miners
    .filter((m) => isLoopback(m.host))
    // the sim serves the dialect the config names (auto → stock cgminer)
    .map((m) => ({
      id: m.id,
      host: m.host,
      port: m.port,
      dialect: m.dialect === "auto" ? undefined : m.dialect,
    }));
  // Modbus TCP meters and meters behind an RTU-over-TCP gateway on loopback are served
  const meters = config.meters.flatMap((m) =>
    m.modbus.kind !== "rtu" && isLoopback(m.modbus.host)
      ? [
          {
            id: m.id,
            role: m.role,
            host: m.modbus.host,
            port: m.modbus.port,
            unitId: m.modbus.unitId,
            profile: m.profile,
            framing: m.modbus.kind,
          },
        ]
      : [],
  );
  const skipped = config.miners.length - miners.length + (config.meters.length - meters.length);
  const site = await startSimSite({
    miners,
    meters,
    seed: sim.seed,
    noiseW: sim.noiseW,
    auxW: sim.auxW,
    models: sim.models,
    logger,
  });
  logger
    .child({ component: "sim" })
    .info(
      { miners: miners.length, meters: meters.length, notSimulated: skipped },
      `simulated site serving ${miners.length} miners and ${meters.length} meters on loopback`,
    );
  return site;
}

/** Where `npm start` puts its broker; another free port when this one is taken. */
export const SIM_BROKER_PORT = 1883;

/**
 * For a sim config without an `mqtt:` section: an embedded broker (aedes,
 * MQTT 3.1.1) on loopback, a demo key pair in the state directory (made once,
 * kept), and the mqtt config that points the site at both — so a newcomer can
 * watch the topics and steer the site in the first minute.
 */
export async function startSimBroker(config: SiteConfig, logger: Logger) {
  const { startEmbeddedBroker } = await import("../sim/mqtt/broker.ts");
  const { writeKeyPair } = await import("./cli/keygen.ts");
  let broker: Awaited<ReturnType<typeof startEmbeddedBroker>>;
  try {
    broker = await startEmbeddedBroker({ port: SIM_BROKER_PORT });
  } catch {
    broker = await startEmbeddedBroker({ port: 0 });
  }
  const stateDir = dirname(config.store.path);
  const prefix = join(stateDir, "demo");
  if (!existsSync(`${prefix}.pub.pem`)) writeKeyPair(prefix);
  const publicKeyFile = `${prefix}.pub.pem`;
  const base = MqttSchema.parse({
    url: broker.url,
    protocolVersion: 4,
    commandKeys: [{ name: "demo", publicKeyFile }],
  });
  const mqtt: MqttConfig = {
    ...base,
    password: null,
    ca: null,
    cert: null,
    key: null,
    commandKeys: [{ name: "demo", publicKeyFile, publicKey: readFileSync(publicKeyFile, "utf8") }],
  };
  const root = `${mqtt.topicRoot}/${config.site.id}`;
  const key = relative(process.cwd(), `${prefix}.key.pem`) || `${prefix}.key.pem`;
  const banner = [
    `MQTT: embedded broker ${broker.url} (MQTT 3.1.1), the site's topics under ${root}/#`,
    `  watch: mosquitto_sub -V mqttv311 -h ${broker.host} -p ${broker.port} -t '${root}/#' -v`,
    `  steer: node bin/wattkeeper.js send --broker ${broker.url} --mqtt-version 4 --site ${config.site.id} --key ${key} budget/set '{"watts":250000,"ttlS":300,"reason":"demo"}'`,
  ].join("\n");
  logger.child({ component: "sim" }).info({ url: broker.url }, "embedded MQTT broker listening");
  return { mqtt, banner, stop: () => broker.stop() };
}
