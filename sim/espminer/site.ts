// ESP-Miner / AxeOS pieces of the simulated site (called from sim/site.ts): an
// HTTP listener on the host of every miner on the espminer dialect, at its
// webPort (default 80; 0 = a free port, read back from `endpoints`). These units
// have no CGMiner API: sim/site.ts lists the dialect in NO_CGMINER_API.
import type { Logger } from "pino";
import type { PowerModel } from "../power-model.ts";
import { type EspminerSim, type EspminerUnitOptions, startEspminerSim } from "./server.ts";

export type EspminerSiteSpec = EspminerUnitOptions;

export async function startEspminerSiteSims(
  model: PowerModel,
  miners: ReadonlyArray<{
    id: string;
    host: string;
    dialect?: string;
    webPort?: number;
    replyDelayMs?: number;
    espminer?: EspminerSiteSpec;
  }>,
  logger?: Logger,
): Promise<EspminerSim> {
  const mine = miners.filter((m) => m.dialect === "espminer");
  return startEspminerSim({
    model,
    logger,
    miners: mine.map((m) => ({
      replyDelayMs: m.replyDelayMs,
      ...m.espminer,
      id: m.id,
      host: m.host,
      port: m.webPort ?? 80,
    })),
  });
}
