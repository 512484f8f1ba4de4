// Auradine pieces of the simulated site (called from sim/site.ts): the FluxOS
// web API (default port 8080) on the host of every miner on the auradine
// dialect, beside the GCMiner API the cgminer sim serves on 4028. Two such
// miners sharing a host and web port cannot both listen: the first gets it and
// the others are logged and skipped. Port 0 takes a free port (`endpoints`).
import type { Logger } from "pino";
import { onePerHostPort } from "../listener.ts";
import type { PowerModel } from "../power-model.ts";
import { type AuradineQuirks, type AuradineSim, type AuradineSimMiner, startAuradineSim } from "./server.ts";

export type AuradineSiteSpec = Partial<AuradineQuirks>;

export const AURADINE_WEB_PORT = 8080;

export async function startAuradineSiteSims(
  model: PowerModel,
  miners: ReadonlyArray<{
    id: string;
    host: string;
    dialect?: string;
    webPort?: number;
    auradine?: AuradineSiteSpec;
  }>,
  logger?: Logger,
): Promise<AuradineSim> {
  const specs: AuradineSimMiner[] = onePerHostPort(
    miners,
    "auradine",
    (m) => m.webPort ?? AURADINE_WEB_PORT,
    logger,
  ).map(({ m, port }) => ({ ...m.auradine, id: m.id, host: m.host, port }));
  return startAuradineSim({ model, miners: specs, logger });
}
