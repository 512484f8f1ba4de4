// Starts the embedded simulated site described by a config's `sim:` section:
// every configured miner and Modbus TCP meter on a loopback address is served
// by the simulator, so `npm start` runs the real drivers against real sockets;
// without an `mqtt:` section it also gets an embedded broker and a demo key,
// and with `sim.gpuNodes` simulated AI nodes over SSH.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { dirname, join, relative } from "node:path";
import { GpuNodeSchema } from "../../config/schema/devices.ts";
import { MqttSchema } from "../../config/schema/mqtt.ts";
import type { GpuNodeConfig, MqttConfig, SiteConfig } from "../../config/schema.ts";
import type { PowerModel } from "../../sim/power-model.ts";
import { startSimSite } from "../../sim/site.ts";
import type { Logger } from "../runtime/logger.ts";

const isLoopback = (host: string) =>
  host === "localhost" || (isIP(host) === 4 && host.startsWith("127.")) || host === "::1";

export async function startSimFromConfig(config: SiteConfig, logger: Logger) {
  const sim = config.sim;
  if (!sim) throw new Error("config has no sim section");
  const miners = config.miners
    .filter((m) => isLoopback(m.host))
    // the sim serves the dialect the config names (auto → a stock Antminer: bmminer; an antminer
    // miner also gets the web CGI at its webPort, default 80)
    .map((m) => ({
      id: m.id,
      host: m.host,
      port: m.port,
      webPort: m.webPort,
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
    generation: sim.generation,
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
const SIM_BROKER_PORT = 1883;

/**
 * For a sim config without an `mqtt:` section: an embedded broker (aedes,
 * MQTT 3.1.1) on loopback, a demo key pair in the state directory (made once,
 * kept), and the mqtt config that points the site at both — so a newcomer can
 * watch the topics and steer the site in the first minute.
 */
export async function startSimBroker(config: SiteConfig, logger: Logger) {
  const { startEmbeddedBroker } = await import("../../sim/mqtt/broker.ts");
  const { writeKeyPair } = await import("./keygen.ts");
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

/** Where the simulated GPU nodes listen, and their id prefix. */
const SIM_GPU_HOST = "127.0.0.1";

/**
 * For a sim config with `sim.gpuNodes` and no `gpuNodes` of its own: that many
 * simulated AI nodes (SSH on loopback, 8 GPUs each, their draw coupled into
 * the site's power model), a client key written to the state directory, and
 * the gpuNodes config that points the site at them, pinned to their host keys —
 * so `npm start` is a hybrid site with AI load in the split and the loop.
 */
export async function startSimGpuNodes(
  config: SiteConfig,
  model: PowerModel,
  logger: Logger,
): Promise<{ gpuNodes: GpuNodeConfig[]; stop: () => Promise<void> } | null> {
  const n = config.sim?.gpuNodes ?? 0;
  if (n === 0 || config.gpuNodes.length > 0) return null;
  const { startGpuNodeSim } = await import("../../sim/gpu/server.ts");
  const { generateKeyPair } = await import("../../sim/gpu/ssh2.ts");
  const client = generateKeyPair();
  const keyFile = join(dirname(config.store.path), "sim-gpu-client.key");
  mkdirSync(dirname(keyFile), { recursive: true });
  writeFileSync(keyFile, client.privateKey, { mode: 0o600 });
  const sims: Array<Awaited<ReturnType<typeof startGpuNodeSim>>> = [];
  for (let i = 1; i <= n; i++) {
    sims.push(
      await startGpuNodeSim({
        id: `gpu-${String(i).padStart(2, "0")}`,
        host: SIM_GPU_HOST,
        port: 0,
        authorizedKeys: [client.publicKey],
        model,
      }),
    );
  }
  const gpuNodes: GpuNodeConfig[] = sims.map((g) => ({
    ...GpuNodeSchema.parse({
      id: g.id,
      host: g.host,
      port: g.port,
      user: "wattkeeper",
      privateKeyFile: keyFile,
      hostKeySha256: g.hostKeyFingerprint,
      floorW: 350,
      location: "ai-hall",
    }),
    privateKey: client.privateKey,
    knownHosts: null,
  }));
  logger
    .child({ component: "sim" })
    .info({ gpuNodes: n }, `simulated AI: ${n} GPU nodes × 8 GPUs over SSH on ${SIM_GPU_HOST}`);
  return { gpuNodes, stop: async () => void (await Promise.all(sims.map((g) => g.stop()))) };
}
