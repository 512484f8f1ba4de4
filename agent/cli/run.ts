// `wattkeeper run`: runs the site for years under a service manager.
//   SIGHUP          reload: the new config is validated first; a bad one is
//                   refused (every problem logged as FILE: path: message) and
//                   the running site stays; a good one replaces the site
//                   (stop the old, start the new on the same store, where the
//                   ledger, exclusions, mode and lease persist). The embedded
//                   simulator, if any, keeps running.
//   SIGTERM/SIGINT  stop: the tick in progress finishes, the stores are closed,
//                   the channels say goodbye (Site.stop), exit 0. A second
//                   signal during the stop forces exit 1.
// Reloads and the stop run one at a time, in arrival order; SIGHUPs that arrive
// during a reload fold into one more reload. Under systemd the agent reports
// READY/RELOADING/STOPPING and kicks the watchdog from healthy ticks only.
import { parseArgs } from "node:util";
import { ConfigError, loadConfig, loadConfigOrReport, problemLines } from "../../config/load.ts";
import type { SiteConfig } from "../../config/schema.ts";
import { startCompactor } from "../runtime/compactor.ts";
import { HeapBurst, tuneHeap } from "../runtime/heap.ts";
import { createLogger, type Logger } from "../runtime/logger.ts";
import { createNotifier, type Notifier } from "../runtime/systemd-notify.ts";
import { Site, type SiteHandoff } from "../site/site.ts";
import { UsageError } from "./usage.ts";

export interface RunOptions {
  version: string;
  defaultConfig: string;
}

/** How long a clean stop may leave handles open before the process exits anyway. */
const EXIT_GRACE_MS = 5000;
/**
 * A reload stops the old site, which waits for the control tick in progress (a
 * shed to slow miners may take minutes); there are no ticks meanwhile, so the
 * reload itself keeps systemd's watchdog fed, for this long at most.
 */
const RELOAD_WATCHDOG_MAX_MS = 5 * 60_000;

export async function runCommand(argv: string[], opts: RunOptions): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { config: { type: "string", short: "c" } },
  });
  if (positionals.length > 0) throw new UsageError(`run takes no arguments (got '${positionals[0]}')`);
  const file = values.config ?? opts.defaultConfig;
  const loaded = await loadConfigOrReport(file, { strictFiles: true });
  if (!loaded) return 2;
  const { config } = loaded;

  const heapBurst = HeapBurst.after(tuneHeap());
  const compactor = startCompactor();
  const logger = createLogger({ level: config.log.level });
  logger.info({ version: opts.version, config: config.file }, `wattkeeper ${opts.version} starting`);
  const notifier = createNotifier({ logger });
  const agent = new Agent({ file, logger, notifier, version: opts.version, heapBurst });

  const uninstall = handleSignals(process, {
    stop: (signal) => {
      logger.info({ signal }, "stopping");
      agent.stop();
    },
    reload: () => {
      logger.info({ signal: "SIGHUP" }, `reloading ${file}`);
      agent.reload();
    },
    forceExit: (signal) => {
      logger.error({ signal }, "second signal while stopping: exiting now");
      process.exit(1);
    },
  });
  try {
    const code = await agent.run(config);
    if (code === 0) logger.info("stopped cleanly");
    // Every part closes its handles on stop; if one did not, exit anyway rather than hang.
    setTimeout(() => {
      logger.warn("handles still open after the stop: exiting");
      process.exit(code);
    }, EXIT_GRACE_MS).unref();
    return code;
  } finally {
    uninstall();
    compactor?.stop();
  }
}

/** What `run` does on each signal. */
export interface SignalActions {
  /** First SIGTERM/SIGINT. */
  stop(signal: NodeJS.Signals): void;
  /** SIGHUP, unless a stop was asked for. */
  reload(): void;
  /** A second SIGTERM/SIGINT while stopping (at least SIGNAL_ECHO_MS after the first). */
  forceExit(signal: NodeJS.Signals): void;
}

interface SignalSource {
  on(signal: NodeJS.Signals, fn: (signal: NodeJS.Signals) => void): unknown;
  off(signal: NodeJS.Signals, fn: (signal: NodeJS.Signals) => void): unknown;
}

/**
 * A second stop signal this soon after the first is the same request arriving twice, not an
 * operator insisting: under `npm start` one Ctrl-C reaches the agent from the terminal (the
 * whole foreground process group) and again forwarded by npm, a few milliseconds apart.
 */
export const SIGNAL_ECHO_MS = 1000;

/** Routes SIGTERM/SIGINT/SIGHUP to the actions; returns the uninstall. */
export function handleSignals(
  source: SignalSource,
  actions: SignalActions,
  now: () => number = Date.now,
): () => void {
  let stoppingAt: number | null = null;
  const onStop = (signal: NodeJS.Signals) => {
    if (stoppingAt !== null) {
      if (now() - stoppingAt >= SIGNAL_ECHO_MS) actions.forceExit(signal);
      return;
    }
    stoppingAt = now();
    actions.stop(signal);
  };
  const onHup = () => {
    if (stoppingAt === null) actions.reload();
  };
  source.on("SIGTERM", onStop);
  source.on("SIGINT", onStop);
  source.on("SIGHUP", onHup);
  return () => {
    source.off("SIGTERM", onStop);
    source.off("SIGINT", onStop);
    source.off("SIGHUP", onHup);
  };
}

interface Stoppable {
  stop(): Promise<void>;
}

/** Loads a config file for a reload; a ConfigError (or anything else) refuses the reload. */
export type ConfigLoader = (file: string) => Promise<{ config: SiteConfig }>;

const loadStrict: ConfigLoader = (file) => loadConfig(file, { strictFiles: true });

/** The running site and simulator, and the queue of reloads and the stop. */
export interface AgentOptions {
  /** The config file (read again on a reload). */
  file: string;
  logger: Logger;
  notifier: Notifier;
  version: string;
  /** How a reload reads the config (tests inject failures). */
  load?: ConfigLoader;
  /** Handed to each site (runtime/heap.ts). */
  heapBurst?: HeapBurst;
}

export class Agent {
  private site: Site | null = null;
  private config: SiteConfig | null = null;
  private sim: Stoppable | null = null;
  /** The embedded broker of a simulated site without an mqtt section, and the mqtt config that points at it. */
  private simBroker: Stoppable | null = null;
  /** Simulated AI nodes of a `sim.gpuNodes` config, and the gpuNodes config that points at them. */
  private simGpu: Stoppable | null = null;
  private simGpuNodes: SiteConfig["gpuNodes"] = [];
  private simMqtt: SiteConfig["mqtt"] = null;
  private untick: (() => void) | null = null;
  private queue: Promise<void> = Promise.resolve();
  private reloadQueued = false;
  private stopQueued = false;
  private finish: (code: number) => void = () => undefined;
  private readonly done = new Promise<number>((resolve) => {
    this.finish = resolve;
  });

  private readonly file: string;
  private readonly logger: Logger;
  private readonly notifier: Notifier;
  private readonly version: string;
  private readonly heapBurst: HeapBurst | undefined;
  private readonly load: ConfigLoader;

  constructor(o: AgentOptions) {
    this.file = o.file;
    this.logger = o.logger;
    this.notifier = o.notifier;
    this.version = o.version;
    this.heapBurst = o.heapBurst;
    this.load = o.load ?? loadStrict;
  }

  /** Starts, then resolves with the exit code once stopped (0) or failed (1). */
  run(config: SiteConfig): Promise<number> {
    this.enqueue(async () => {
      try {
        let banner: string | null = null;
        if (config.sim) {
          const { startSimFromConfig, startSimBroker, startSimGpuNodes } = await import(
            "./simulated-site.ts"
          );
          const sim = await startSimFromConfig(config, this.logger);
          this.sim = sim;
          const gpu = await startSimGpuNodes(config, sim.model, this.logger);
          if (gpu) {
            this.simGpu = gpu;
            this.simGpuNodes = gpu.gpuNodes;
          }
          if (!config.mqtt) {
            // a newcomer's site: a broker on loopback and a demo key, so remote control works at once
            const b = await startSimBroker(config, this.logger);
            this.simBroker = b;
            this.simMqtt = b.mqtt;
            banner = b.banner;
          }
        }
        await this.startSite(this.withSim(config));
        // stderr: stdout carries the JSON log lines
        if (banner) process.stderr.write(`${banner}\n`);
      } catch (err) {
        this.logger.error({ err }, `failed to start: ${(err as Error).message}`);
        await this.shutdown();
        this.finish(1);
        return;
      }
      await this.notifier.ready(`site ${config.site.id} running`);
    });
    return this.done;
  }

  reload(): void {
    if (this.reloadQueued || this.stopQueued) return;
    this.reloadQueued = true;
    this.enqueue(async () => {
      this.reloadQueued = false;
      if (this.stopQueued || !this.site) return;
      await this.reloadNow();
    });
  }

  stop(): void {
    if (this.stopQueued) return;
    this.stopQueued = true;
    this.enqueue(async () => {
      await this.notifier.stopping("stopping");
      await this.shutdown();
      this.finish(0);
    });
  }

  private enqueue(step: () => Promise<void>): void {
    this.queue = this.queue.then(step).catch((err) => {
      this.logger.fatal({ err }, `unexpected failure: ${(err as Error).message}`);
      void this.shutdown().finally(() => this.finish(1));
    });
  }

  private async reloadNow(): Promise<void> {
    const log = this.logger;
    let next: SiteConfig;
    try {
      ({ config: next } = await this.load(this.file));
    } catch (err) {
      // whatever went wrong, and however it was thrown: the running site stays
      const e =
        err instanceof ConfigError
          ? err
          : new ConfigError(this.file, [
              { path: "", message: `could not be loaded: ${(err as Error)?.message ?? String(err)}` },
            ]);
      // one log line per problem, in the same words `check-config` prints
      const lines = problemLines(e);
      for (const line of lines.slice(0, -1)) log.error({ component: "reload" }, line);
      const n = e.problems.length;
      log.error(
        { component: "reload", problems: n },
        `reload refused: ${e.file}: ${n} problem${n === 1 ? "" : "s"}; the running config stays`,
      );
      await this.notifier.status(
        `reload refused (${n} config problem${n === 1 ? "" : "s"}); running the old config`,
      );
      return;
    }
    const prev = this.config!;
    if (JSON.stringify(next.sim ?? null) !== JSON.stringify(prev.sim ?? null)) {
      log.warn(
        { component: "reload" },
        "the sim section changed: the embedded simulator keeps running as started",
      );
    }
    await this.notifier.reloading("reloading the config");
    const stopFeeding = this.feedWatchdog(RELOAD_WATCHDOG_MAX_MS);
    try {
      await this.replaceSite(prev, this.withSim(next));
    } finally {
      stopFeeding();
    }
    await this.notifier.ready(`site ${this.config!.site.id} running`);
  }

  private async replaceSite(prev: SiteConfig, next: SiteConfig): Promise<void> {
    const log = this.logger;
    // sessions, readings and what was already reported go on into the new site
    const handoff = this.site?.handoff() ?? null;
    await this.stopSite();
    log.level = next.log.level;
    try {
      await this.startSite(next, handoff);
      log.info({ component: "reload", config: next.file }, "config reloaded: the new site is running");
    } catch (err) {
      log.error(
        { err, component: "reload" },
        `the new config failed to start (${(err as Error).message}): back to the old one`,
      );
      await this.stopSite();
      log.level = prev.log.level;
      await this.startSite(prev, handoff); // if this throws too, the queue exits 1 and the service manager restarts us
    }
  }

  /**
   * A simulated site without an mqtt section talks to the embedded broker started with it;
   * one without gpuNodes of its own gets the simulated AI nodes started with it.
   */
  private withSim(config: SiteConfig): SiteConfig {
    if (!config.sim) return config;
    let c = config;
    if (!c.mqtt && this.simMqtt) c = { ...c, mqtt: this.simMqtt };
    if (c.gpuNodes.length === 0 && this.simGpuNodes.length > 0) c = { ...c, gpuNodes: this.simGpuNodes };
    return c;
  }

  /** Pings the watchdog while no site ticks, for maxMs at most. Returns the stop. */
  private feedWatchdog(maxMs: number): () => void {
    const everyMs = this.notifier.watchdogMs;
    if (everyMs === null) return () => undefined;
    const until = Date.now() + maxMs;
    const timer = setInterval(() => {
      if (Date.now() < until) void this.notifier.watchdog();
    }, everyMs / 4);
    return () => clearInterval(timer);
  }

  private async startSite(config: SiteConfig, handoff: SiteHandoff | null = null): Promise<void> {
    const site = new Site(config, this.logger, {
      version: this.version,
      handoff,
      ...(this.heapBurst ? { heapBurst: this.heapBurst } : {}),
    });
    this.site = site;
    this.config = config;
    await site.start();
    let lastReason: string | null = null;
    this.untick = site.onTick(() => {
      const reason = site.unhealthyReason();
      if (reason === null) void this.notifier.watchdog();
      if (reason !== lastReason) {
        void this.notifier.status(
          reason === null ? `site ${config.site.id} running` : `unhealthy: ${reason}`,
        );
        lastReason = reason;
      }
    });
  }

  private async stopSite(): Promise<void> {
    this.untick?.();
    this.untick = null;
    const site = this.site;
    this.site = null;
    await this.safely("site", () => site?.stop());
  }

  private async shutdown(): Promise<void> {
    await this.stopSite();
    const broker = this.simBroker;
    this.simBroker = null;
    await this.safely("embedded broker", () => broker?.stop());
    const gpu = this.simGpu;
    this.simGpu = null;
    await this.safely("simulated GPU nodes", () => gpu?.stop());
    const sim = this.sim;
    this.sim = null;
    await this.safely("simulator", () => sim?.stop());
  }

  private async safely(what: string, fn: () => Promise<void> | undefined): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.logger.error({ err }, `error while stopping the ${what}`);
    }
  }
}
