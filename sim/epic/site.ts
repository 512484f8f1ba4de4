// ePIC pieces of the simulated site (called from sim/site.ts): every miner on
// the epic dialect gets an ePIC UMC HTTP listener on its own host and API port
// (m.port, 4028 by default; 0 = a free port, read back from `endpoints`).
import type { Logger } from "pino";
import type { PowerModel } from "../power-model.ts";
import { type EpicSim, type EpicSimMiner, startEpicSim } from "./server.ts";

/** Per-miner options of the site config: password, reply delay, firmware variant… */
export type EpicSiteSpec = Omit<EpicSimMiner, "id" | "host" | "port" | "model">;

export function startEpicSiteSims(
  model: PowerModel,
  miners: ReadonlyArray<{ id: string; host: string; port: number; dialect?: string; epic?: EpicSiteSpec }>,
  logger?: Logger,
): Promise<EpicSim> {
  const specs: EpicSimMiner[] = miners
    .filter((m) => m.dialect === "epic")
    .map((m) => ({ ...m.epic, id: m.id, host: m.host, port: m.port }));
  return startEpicSim({ model, miners: specs, logger });
}
