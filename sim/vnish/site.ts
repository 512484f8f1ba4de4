// VNish pieces of the simulated site (called from sim/site.ts): a web API
// listener on the host of every miner on the vnish dialect, at the miner's
// `webPort` (default 80; 0 = a free port, read back from `endpoints`). Two
// VNish miners sharing a host and web port cannot both listen: the first gets
// it, the others are logged and skipped.
import type { Logger } from "pino";
import { onePerHostPort } from "../listener.ts";
import type { PowerModel } from "../power-model.ts";
import { startVnishSim, type VnishSim, type VnishSimMiner } from "./server.ts";

export type VnishSiteSpec = Omit<VnishSimMiner, "id" | "host" | "port" | "model">;

export async function startVnishSiteSims(
  model: PowerModel,
  miners: ReadonlyArray<{
    id: string;
    host: string;
    dialect?: string;
    webPort?: number;
    vnish?: VnishSiteSpec;
  }>,
  logger?: Logger,
): Promise<VnishSim> {
  const specs: VnishSimMiner[] = onePerHostPort(miners, "vnish", (m) => m.webPort ?? 80, logger).map(
    ({ m, port }) => ({ ...m.vnish, id: m.id, host: m.host, port }),
  );
  return startVnishSim({ model, miners: specs, logger });
}
