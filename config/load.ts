// Reads a site config file and returns the resolved config: units in watts and
// seconds, miner ranges expanded, meter profiles loaded, secrets read, relative
// paths anchored at the config file. It reports every problem it can find in one
// go (a site tech fixing a config over a slow link should not play whack-a-mole),
// using the paths of the user's own file: miners[3].hosts, not an index after
// expansion. Secret values never appear in a problem.
//
// loadConfig runs the steps in order; each lives in its own module under load/.
// This module re-exports the loader's public names so that importers need only
// this path.
import { dirname, resolve } from "node:path";
import { assembleConfig, storePathOf } from "./load/assemble.ts";
import { checkControl, checkOperators, checkSimAddresses, checkSiteMeter } from "./load/checks.ts";
import { checkDevices } from "./load/devices.ts";
import type { Problem } from "./load/problems.ts";
import { readConfigFile } from "./load/read.ts";
import { resolveSecrets } from "./load/secrets.ts";
import { parseSections } from "./load/sections.ts";
import type { SiteConfig } from "./schema.ts";

export { ConfigError, formatPath, formatProblem, type Problem } from "./load/problems.ts";
export { METERS_DIR } from "./load/profiles.ts";
export { secretEnvName } from "./load/secrets.ts";

export interface LoadOptions {
  /** Environment for secrets and the default store path (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Missing referenced files are errors (run, check-config --strict-files) instead of warnings. */
  strictFiles?: boolean;
}

export async function loadConfig(
  file: string,
  opts: LoadOptions = {},
): Promise<{ config: SiteConfig; warnings: Problem[] }> {
  const env = opts.env ?? process.env;
  const abs = resolve(file);
  const dir = dirname(abs);
  const raw = await readConfigFile(file, abs);
  const problems: Problem[] = [];
  const warnings: Problem[] = [];

  // 1. Shape, section by section; list entries one by one.
  const { parsed, entries } = parseSections(raw, problems);
  // 2. Control against itself, the contract and the presence of an mqtt section.
  const failsafeBudgetW = checkControl(parsed, raw.mqtt !== undefined && raw.mqtt !== null, problems);
  // 3. Devices: ids unique across kinds, miner ranges expanded, meter profiles loaded.
  const devices = await checkDevices(entries, problems);
  // 4. Operators whose hash cannot match anything.
  checkOperators(parsed.http, warnings);
  // 5. Referenced files and secrets, relative to the config file.
  await resolveSecrets(parsed.mqtt, entries, {
    dir,
    env,
    problems,
    warnings,
    strictFiles: opts.strictFiles === true,
  });
  const storePath = storePathOf(parsed.store, env, dir);
  // 6. Warnings that only make sense on a config that is otherwise whole.
  if (parsed.sim) checkSimAddresses(devices.miners, entries.meters, warnings);
  checkSiteMeter(parsed, devices.siteMeter, problems, warnings);
  // 7. Throw every problem at once, or put the pieces together.
  const config = assembleConfig(
    { file, abs, parsed, entries, devices, storePath, failsafeBudgetW },
    problems,
    warnings,
  );
  return { config, warnings };
}
