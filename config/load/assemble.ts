// The last step of a load: the store path settled, and either the problems
// thrown as one ConfigError or the parsed pieces put together as a SiteConfig.
import { join, resolve } from "node:path";
import type { KnownModel } from "../../drivers/cgminer/models.ts";
import type { ControlConfig, GpuNodeConfig, HttpConfig, MqttConfig, SiteConfig } from "../schema.ts";
import type { Devices } from "./devices.ts";
import { ConfigError, type Problem } from "./problems.ts";
import type { Entries, Parsed } from "./sections.ts";

/** Store: the state directory, as systemd or the environment give it; null if store did not parse. */
export function storePathOf(store: Parsed["store"], env: NodeJS.ProcessEnv, dir: string): string | null {
  if (!store) return null;
  const p = store.path;
  const stateDir = env.WATTKEEPER_STATE_DIR || env.STATE_DIRECTORY?.split(":")[0] || "/var/lib/wattkeeper";
  return p === null ? join(stateDir, "wattkeeper.db") : resolve(dir, p);
}

export interface Pieces {
  /** The path as given, for messages. */
  file: string;
  /** The absolute path, for the config. */
  abs: string;
  parsed: Parsed;
  entries: Entries;
  devices: Devices;
  storePath: string | null;
  failsafeBudgetW: number | null;
  /** The site's own models, then the shipped ones. */
  models: readonly KnownModel[];
}

export function assembleConfig(pieces: Pieces, problems: Problem[], warnings: Problem[]): SiteConfig {
  const { file, abs, parsed, entries, devices, storePath, failsafeBudgetW, models } = pieces;
  const { site, control, http, log, polling } = parsed;
  if (
    problems.length > 0 ||
    !site ||
    !control ||
    !polling ||
    !http ||
    !log ||
    storePath === null ||
    failsafeBudgetW === null
  ) {
    if (problems.length === 0) problems.push({ path: "", message: "invalid configuration" });
    throw new ConfigError(file, problems, warnings);
  }

  const controlConfig: ControlConfig = { ...control, failsafeBudgetW };
  return {
    file: abs,
    site: { ...site, name: site.name ?? site.id },
    mqtt: parsed.mqtt as MqttConfig | null,
    http: http as HttpConfig,
    store: { path: storePath },
    meters: devices.meters,
    miners: devices.miners,
    gpuNodes: entries.gpuNodes as GpuNodeConfig[],
    models,
    control: controlConfig,
    polling,
    signals: parsed.signals as SiteConfig["signals"],
    exports: parsed.exports as SiteConfig["exports"],
    sim: parsed.sim,
    log,
  };
}
