// Whatsminer pieces of the simulated site (called from sim/site.ts): applies
// each Whatsminer spec's configuration (password, switches) and starts the API
// v3 listener next to the v2 one the cgminer sim serves.
import type { Logger } from "pino";
import type { PowerModel } from "../power-model.ts";
import { configureWhatsminer, type WhatsminerSimConfig } from "./state.ts";
import { startWhatsminerV3Sim, type WhatsminerV3Sim } from "./v3-server.ts";

export interface WhatsminerSiteSpec extends WhatsminerSimConfig {
  /** API v3 port on the miner's host (default 4433). */
  v3Port?: number;
}

export async function startWhatsminerSiteSims(
  model: PowerModel,
  miners: ReadonlyArray<{ id: string; host: string; dialect?: string; whatsminer?: WhatsminerSiteSpec }>,
  logger?: Logger,
): Promise<WhatsminerV3Sim> {
  const mine = miners.filter((m) => m.dialect === "whatsminer");
  for (const m of mine) {
    const { v3Port: _v3Port, ...cfg } = m.whatsminer ?? {};
    configureWhatsminer(model, m.id, cfg);
  }
  return startWhatsminerV3Sim({
    model,
    miners: mine.map((m) => ({ id: m.id, host: m.host, port: m.whatsminer?.v3Port ?? 4433 })),
    logger,
  });
}
