// The web-API firmwares of the simulated site (called from sim/site.ts): each
// HTTP firmware gets one listener per miner on its dialect, on the miner's host.
// - Proto rigs: the MDK API on `webPort` (default 443); no CGMiner API.
// - ePIC UMC: HTTP on the miner's own API port (`port`, 4028 by default); no CGMiner API.
// - Auradine FluxOS: the web API on `webPort` (default 8080), beside GCMiner on 4028.
// - ESP-Miner / AxeOS: HTTP on `webPort` (default 80); no CGMiner API.
// - VNish: the web API on `webPort` (default 80), beside its read-only 4028.
// Port 0 takes a free port (read back from `endpoints`). For Proto, Auradine and
// VNish two miners sharing a host and web port cannot both listen: the first
// gets it, the others are logged and skipped (sim/listener.ts onePerHostPort).
import type { Logger } from "pino";
import { type AuradineSim, type AuradineSiteSpec, startAuradineSim } from "./auradine/server.ts";
import { type EpicSim, type EpicSiteSpec, startEpicSim } from "./epic/server.ts";
import { type EspminerSim, type EspminerUnitOptions, startEspminerSim } from "./espminer/server.ts";
import { onePerHostPort, type SimHandle } from "./listener.ts";
import type { PowerModel } from "./power-model.ts";
import { PROTO_SIM_DEFAULT_PORT, type ProtoSim, type ProtoSiteSpec, startProtoSim } from "./proto/server.ts";
import { startVnishSim, type VnishSim, type VnishSiteSpec } from "./vnish/server.ts";

const AURADINE_WEB_PORT = 8080;
const HTTP_PORT = 80;

/** What the web sims read of a site miner. */
export interface WebSiteMiner {
  id: string;
  host: string;
  port: number;
  dialect?: string;
  /** HTTP firmwares (VNish, AxeOS, Proto, Auradine): the web/REST listener's port; absent = the firmware's default. */
  webPort?: number;
  replyDelayMs?: number;
  /** `dialect: "proto"` only: password, token TTL, delays, drift (sim/proto). */
  proto?: ProtoSiteSpec;
  /** `dialect: "epic"` only: password, reply delay, firmware variant… (sim/epic); it listens on `port`. */
  epic?: EpicSiteSpec;
  /** `dialect: "auradine"` only: FluxOS web API quirks (sim/auradine); its port is `webPort` (default 8080). */
  auradine?: AuradineSiteSpec;
  /** `dialect: "espminer"` only: AxeOS version, drift, restart time (sim/espminer); replyDelayMs applies too. */
  espminer?: EspminerUnitOptions;
  /** `dialect: "vnish"` only: the web API's password, token lifetime, firmware quirks (sim/vnish). */
  vnish?: VnishSiteSpec;
}

export interface WebSims {
  proto: ProtoSim;
  epic: EpicSim;
  auradine: AuradineSim;
  espminer: EspminerSim;
  vnish: VnishSim;
}

/**
 * Starts the web sims one after the other, handing each to `started` as soon as it
 * listens (so the caller can stop what did start when a later one fails).
 */
export async function startWebSims(
  model: PowerModel,
  miners: readonly WebSiteMiner[],
  opts: { logger?: Logger; started: (sim: SimHandle) => void },
): Promise<WebSims> {
  const { logger } = opts;
  const track = <S extends SimHandle>(sim: S): S => {
    opts.started(sim);
    return sim;
  };
  /** The miners on `dialect`, one per host and web port, with where each listens. */
  const placed = (dialect: string, defaultPort: number) =>
    onePerHostPort(miners, { dialect: dialect, portOf: (m) => m.webPort ?? defaultPort, log: logger }).map(
      ({ m, port }) => ({
        m,
        at: { id: m.id, host: m.host, port },
      }),
    );
  const onDialect = (dialect: string) => miners.filter((m) => m.dialect === dialect);

  const proto = track(
    await startProtoSim({
      model,
      logger,
      miners: placed("proto", PROTO_SIM_DEFAULT_PORT).map(({ m, at }) => ({ ...m.proto, ...at })),
    }),
  );
  const epic = track(
    await startEpicSim({
      model,
      logger,
      miners: onDialect("epic").map((m) => ({ ...m.epic, id: m.id, host: m.host, port: m.port })),
    }),
  );
  const auradine = track(
    await startAuradineSim({
      model,
      logger,
      miners: placed("auradine", AURADINE_WEB_PORT).map(({ m, at }) => ({ ...m.auradine, ...at })),
    }),
  );
  const espminer = track(
    await startEspminerSim({
      model,
      logger,
      miners: onDialect("espminer").map((m) => ({
        replyDelayMs: m.replyDelayMs,
        ...m.espminer,
        id: m.id,
        host: m.host,
        port: m.webPort ?? HTTP_PORT,
      })),
    }),
  );
  const vnish = track(
    await startVnishSim({
      model,
      logger,
      miners: placed("vnish", HTTP_PORT).map(({ m, at }) => ({ ...m.vnish, ...at })),
    }),
  );
  return { proto, epic, auradine, espminer, vnish };
}
