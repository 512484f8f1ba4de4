// Starts the embedded simulated site described by a config's `sim:` section:
// every configured miner and Modbus TCP meter on a loopback address is served
// by the simulator, so `npm start` runs the real drivers against real sockets.
import { isIP } from "node:net";
import type { SiteConfig } from "../config/schema.ts";
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
