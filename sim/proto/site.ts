// Proto pieces of the simulated site (called from sim/site.ts): one MDK API
// listener per miner on the proto dialect, at the miner's host on its webPort
// (absent = 443, as a rig; 0 = a free port, read back from `endpoints`). Proto
// rigs have no CGMiner API (NO_CGMINER_API in sim/site.ts). Two rigs sharing a
// host and port cannot both listen: the first gets it, the others are logged
// and skipped.
import type { Logger } from "pino";
import { onePerHostPort } from "../listener.ts";
import type { PowerModel } from "../power-model.ts";
import { PROTO_SIM_DEFAULT_PORT, type ProtoSim, type ProtoSimMiner, startProtoSim } from "./server.ts";

export type ProtoSiteSpec = Omit<ProtoSimMiner, "id" | "host" | "port">;

export async function startProtoSiteSims(
  model: PowerModel,
  miners: ReadonlyArray<{
    id: string;
    host: string;
    dialect?: string;
    webPort?: number;
    proto?: ProtoSiteSpec;
  }>,
  logger?: Logger,
): Promise<ProtoSim> {
  const specs: ProtoSimMiner[] = onePerHostPort(
    miners,
    "proto",
    (m) => m.webPort ?? PROTO_SIM_DEFAULT_PORT,
    logger,
  ).map(({ m, port }) => ({ ...m.proto, id: m.id, host: m.host, port }));
  return startProtoSim({ model, miners: specs, logger });
}
