// The miner models of a site's config as one lookup (drivers/cgminer/models.ts),
// built once per loaded config and shared by the pollers (the drivers' nameplate
// estimates and range checks) and the site state (the planner's view of each
// miner's range and wake-up time).
import type { SiteConfig } from "../../config/schema.ts";
import { type KnownModel, ModelCatalog } from "../../drivers/cgminer/models.ts";

const catalogs = new WeakMap<readonly KnownModel[], ModelCatalog>();

/** The lookup of a config's models (the site's own first, then the shipped ones). */
export function modelsOf(config: Pick<SiteConfig, "models">): ModelCatalog {
  const list = config.models ?? [];
  let c = catalogs.get(list);
  if (!c) {
    c = new ModelCatalog(list);
    catalogs.set(list, c);
  }
  return c;
}

/** The longest wake-up time of the config's models, ms: how long a wake's record is kept for the planner. */
export function longestWakeUpMs(config: Pick<SiteConfig, "models">): number {
  let s = 0;
  for (const m of config.models ?? []) s = Math.max(s, m.wakeUpS);
  return s * 1000;
}
