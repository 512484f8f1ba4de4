// The whole simulated site: one power model coupling a CGMiner-API listener per
// miner and a Modbus TCP server per meter. Sleeping a miner here (or through any
// future control path) lowers the site and mining meters' readings, which is what
// lets the agent's control loop be tested end to end on loopback.
import type { Logger } from "pino";
import type { MeterProfile } from "../drivers/modbus/profile.ts";
import { type AntminerWebSim, type AntminerWebSimMiner, startAntminerWebSim } from "./antminer-web/server.ts";
import type { AuradineSim } from "./auradine/server.ts";
import { type BraiinsSiteSpec, startBraiinsSiteSims } from "./braiins-grpc/site.ts";
import { type CgminerSim, type CgminerSimMiner, startCgminerSim } from "./cgminer/server.ts";
import type { EpicSim } from "./epic/server.ts";
import type { EspminerSim } from "./espminer/server.ts";
import { cloudySolar, type GenerationProfile } from "./generation.ts";
import { type ModbusMeterSim, startModbusMeterSim } from "./modbus/meter.ts";
import { type MeterRole, PowerModel } from "./power-model.ts";
import type { ProtoSim } from "./proto/server.ts";
import { startWebSims, type WebSims, type WebSiteMiner } from "./site-web.ts";
import type { VnishSim } from "./vnish/server.ts";
import { startWhatsminerSiteSims, type WhatsminerSiteSpec } from "./whatsminer/site.ts";

/**
 * One simulated miner: where its CGMiner API listens and how it answers (sim/cgminer),
 * its web API's port and options for the HTTP firmwares (sim/site-web.ts), and the
 * options of the other vendor pieces.
 */
export interface SimMinerSpec extends CgminerSimMiner, WebSiteMiner {
  /** Answer every request this late (ms): a busy miner (benches, crash tests). */
  replyDelayMs?: number;
  /** `dialect: "braiins"` only: the gRPC API's port, credentials and quirks (sim/braiins-grpc). */
  braiins?: BraiinsSiteSpec;
  /** `dialect: "whatsminer"` only: write password, switches, API v3 port (sim/whatsminer). */
  whatsminer?: WhatsminerSiteSpec;
  /** `dialect: "antminer"` only: the web CGI's credentials and quirks (sim/antminer-web); its port is `webPort`. */
  antminer?: AntminerSiteSpec;
}

/** What a stock Antminer's web CGI takes beyond where it listens (default root/root, every quirk off). */
type AntminerSiteSpec = Omit<AntminerWebSimMiner, "id" | "host" | "port">;

export interface SimMeterSpec {
  id: string;
  role: MeterRole;
  host: string;
  port: number;
  unitId: number;
  profile: MeterProfile;
  /** Wire framing (sim/modbus/meter.ts): Modbus TCP (default) or RTU over TCP, as behind a serial gateway. */
  framing?: "tcp" | "rtuOverTcp";
}

/**
 * Dialects whose miners have no CGMiner API listener: firmwares answered over
 * HTTP only (ePIC answers HTTP on 4028 itself). Their own sims serve them.
 */
const NO_CGMINER_API: ReadonlySet<string> = new Set<string>(["epic", "proto", "espminer"]);

export interface SimSiteOptions {
  miners: SimMinerSpec[];
  meters: SimMeterSpec[];
  // null is accepted like undefined: config sections hand over nullable fields
  seed?: number | null;
  noiseW?: number | null;
  auxW?: number | null;
  /** Model keys (sim/models.ts) assigned round-robin to miners without one. */
  models?: readonly string[] | null;
  wakeDelayMs?: number | null;
  logger?: Logger;
  now?: () => number;
  /**
   * Stock Antminer web CGI (sim/antminer-web). Miners on the `antminer` dialect
   * always have one, at their `webPort`, else at `port` here, else 80. With this
   * option, stock bmminer miners named by no dialect get one too, at `port` (0 =
   * a free port each; see `site.antminerWeb.endpoints`); the delays and
   * reboot time apply to every one.
   */
  antminerWeb?: { port: number; setDelayMs?: number; getDelayMs?: number; rebootMs?: number } | null;
  /** Generation behind the site meter (solar with passing clouds); none when absent. */
  generation?: Omit<GenerationProfile, "seed"> | null;
}

export interface SimSite {
  model: PowerModel;
  cgminer: CgminerSim;
  /** The web CGI of stock Antminers (those on the antminer dialect, and the unnamed ones with `antminerWeb`); null when none. */
  antminerWeb: AntminerWebSim | null;
  /** The MDK API listeners of the Proto rigs (none listen when there are none). */
  proto: ProtoSim;
  /** The ePIC UMC listeners of the miners on the epic dialect (none when there are none). */
  epic: EpicSim;
  /** The FluxOS web API of the miners on the auradine dialect (ports read back from `endpoints`). */
  auradine: AuradineSim;
  /** The AxeOS listeners of the miners on the espminer dialect (none: an empty sim). */
  espminer: EspminerSim;
  /** The web API of the miners on the vnish dialect (each at its webPort, default 80). */
  vnish: VnishSim;
  /** Meter servers by meter id (each exposes `lastPowerW`). */
  meters: ReadonlyMap<string, ModbusMeterSim>;
  sleepMiner(id: string): boolean;
  wakeMiner(id: string): boolean;
  /** Faults (or clears) a miner; resolves once its API listener is closed (or reopened). */
  setFaulted(id: string, on: boolean): Promise<boolean>;
  stop(): Promise<void>;
}

export async function startSimSite(opts: SimSiteOptions): Promise<SimSite> {
  const model = new PowerModel({
    seed: opts.seed,
    noiseW: opts.noiseW,
    auxW: opts.auxW,
    models: opts.models,
    wakeDelayMs: opts.wakeDelayMs,
    now: opts.now,
  });
  // a Proto rig or a Bitaxe without a model is that, not a round-robin Antminer
  const DEFAULT_MODEL: Record<string, string> = { proto: "proto-rig", espminer: "bitaxe-gamma" };
  for (const m of opts.miners) model.addMiner(m.id, m.model ?? DEFAULT_MODEL[m.dialect ?? ""]);
  if (opts.generation) {
    model.setGeneration(cloudySolar({ ...opts.generation, seed: model.seed }, model.now()));
  }

  const seen = new Set<string>();
  for (const ep of [...opts.miners, ...opts.meters]) {
    const key = `${ep.host}:${ep.port}`;
    if (seen.has(key)) throw new Error(`sim site: ${key} is assigned twice (${ep.id})`);
    seen.add(key);
  }

  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    // reverse start order; every stop runs even if one fails
    await Promise.allSettled(
      stops
        .splice(0)
        .reverse()
        .map((s) => s()),
    );
  };
  const meters = new Map<string, ModbusMeterSim>();
  let cgminer: CgminerSim;
  let antminerWeb: AntminerWebSim | null = null;
  let web: WebSims;
  try {
    cgminer = await startCgminerSim({
      miners: opts.miners.filter((m) => m.dialect === undefined || !NO_CGMINER_API.has(m.dialect)),
      model,
      logger: opts.logger,
    });
    stops.push(() => cgminer.stop());
    // Whatsminer: per-miner config, plus the API v3 listener (4433) beside the v2 one
    const whatsminerV3 = await startWhatsminerSiteSims(model, opts.miners, opts.logger);
    stops.push(() => whatsminerV3.stop());
    // Braiins OS: the gRPC API (power target, default 50051) beside 4028
    const braiinsGrpc = await startBraiinsSiteSims(model, opts.miners, opts.logger);
    stops.push(() => braiinsGrpc.stop());
    // Proto, ePIC, Auradine, ESP-Miner and VNish: their web APIs (sim/site-web.ts)
    web = await startWebSims(model, opts.miners, {
      logger: opts.logger,
      started: (sim) => stops.push(() => sim.stop()),
    });
    // stock Antminers: the web CGI (Digest auth) beside their read-only 4028
    const webCgi = opts.antminerWeb;
    const stock = opts.miners.flatMap((m): AntminerWebSimMiner[] => {
      const bmminer = m.program === undefined || m.program === "bmminer";
      if (m.dialect === "antminer")
        return [{ ...m.antminer, id: m.id, host: m.host, port: m.webPort ?? webCgi?.port ?? 80 }];
      if (webCgi && m.dialect === undefined && bmminer)
        return [{ id: m.id, host: m.host, port: webCgi.port }];
      return [];
    });
    if (stock.length > 0) {
      antminerWeb = await startAntminerWebSim({
        miners: stock,
        model,
        logger: opts.logger,
        setDelayMs: webCgi?.setDelayMs,
        getDelayMs: webCgi?.getDelayMs,
        rebootMs: webCgi?.rebootMs,
      });
      const webSim = antminerWeb;
      stops.push(() => webSim.stop());
    }
    const started = await Promise.allSettled(
      opts.meters.map(async (m) => {
        const sim = await startModbusMeterSim({
          host: m.host,
          port: m.port,
          unitId: m.unitId,
          profile: m.profile,
          model,
          role: m.role,
          framing: m.framing,
          logger: opts.logger,
        });
        meters.set(m.id, sim);
        stops.push(() => sim.stop());
      }),
    );
    const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  } catch (err) {
    await stopAll();
    throw err;
  }

  return {
    model,
    cgminer,
    antminerWeb,
    ...web,
    meters,
    sleepMiner: (id) => model.sleep(id),
    wakeMiner: (id) => model.wake(id),
    async setFaulted(id, on) {
      const changed = model.setFaulted(id, on);
      await cgminer.settled();
      return changed;
    },
    stop: stopAll,
  };
}
