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
import {
  checkControl,
  checkExports,
  checkOperators,
  checkSignals,
  checkSimAddresses,
  checkSiteMeter,
} from "./load/checks.ts";
import { checkDevices } from "./load/devices.ts";
import { siteModels } from "./load/models.ts";
import type { Problem } from "./load/problems.ts";
import { ConfigError, formatProblem, problemLines } from "./load/problems.ts";
import { readConfigFile } from "./load/read.ts";
import { resolveSecrets } from "./load/secrets.ts";
import { type Parsed, parseSections } from "./load/sections.ts";
import type { SiteConfig } from "./schema.ts";

export { loadModelFiles } from "./load/models.ts";
export { ConfigError, formatProblem, type Problem, problemLines } from "./load/problems.ts";

export interface LoadOptions {
  /** Environment for secrets and the default store path (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Missing referenced files are errors (run, check-config --strict-files) instead of warnings. */
  strictFiles?: boolean;
  /** Where the shipped miner models are (default config/models/): tests point it elsewhere. */
  modelsDir?: string;
}

/**
 * Loads a config. Throws only a ConfigError: a fault of the loader itself is
 * reported as a problem of the file too, so no caller (a reload above all)
 * ever meets anything else.
 */
export async function loadConfig(
  file: string,
  opts: LoadOptions = {},
): Promise<{ config: SiteConfig; warnings: Problem[] }> {
  try {
    return await load(file, opts);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(file, [
      { path: "", message: `could not be loaded: ${(e as Error)?.message ?? String(e)}` },
    ]);
  }
}

/**
 * `loadConfig` for a command line: the one place a config's problems are printed, one line
 * each then the count, to `err`; null then, and the command exits 2. Warnings are printed too
 * when `warnings` is set (check-config), prefixed `warning:`.
 */
export async function loadConfigOrReport(
  file: string,
  opts: LoadOptions & { err?: { write(s: string): unknown }; warnings?: boolean } = {},
): Promise<{ config: SiteConfig; warnings: Problem[] } | null> {
  const err = opts.err ?? process.stderr;
  try {
    const loaded = await loadConfig(file, opts);
    if (opts.warnings) for (const w of loaded.warnings) err.write(`warning: ${formatProblem(file, w)}\n`);
    return loaded;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const line of problemLines(e)) err.write(`${line}\n`);
    return null;
  }
}

async function load(file: string, opts: LoadOptions): Promise<{ config: SiteConfig; warnings: Problem[] }> {
  const env = opts.env ?? process.env;
  const abs = resolve(file);
  const dir = dirname(abs);
  const { raw, locate } = await readConfigFile(file, abs);
  const problems: Problem[] = [];
  const warnings: Problem[] = [];

  // 1. Shape, section by section; list entries one by one.
  const { parsed, entries, partial } = parseSections(raw, problems);
  // 2. Control against itself, the contract and the presence of an mqtt section — on the
  //    fields that passed even where their section did not, so every problem shows in one round.
  // (a partial section lacks its failed fields: a check comparing one of them finds nothing)
  const failsafeBudgetW = checkControl(
    {
      ...parsed,
      control: parsed.control ?? ((partial.control ?? null) as Parsed["control"]),
      site: parsed.site ?? ((partial.site ?? null) as Parsed["site"]),
    },
    raw.mqtt !== undefined && raw.mqtt !== null,
    problems,
  );
  // 3. Devices: ids unique across kinds, miner ranges expanded, meter profiles loaded.
  const devices = await checkDevices(entries, problems);
  // 3b. Miner models: the site's own, then the shipped files.
  const models = await siteModels({ own: parsed.models, configFile: file, problems, dir: opts.modelsDir });
  // 4. Operators whose hash cannot match anything; signals that lean on other sections.
  checkOperators(parsed.http, warnings);
  checkSignals(parsed, problems);
  checkExports(parsed, problems);
  // 5. Referenced files and secrets, relative to the config file.
  await resolveSecrets({
    mqtt: parsed.mqtt,
    entries,
    ctx: {
      dir,
      env,
      problems,
      warnings,
      strictFiles: opts.strictFiles === true,
    },
    signals: parsed.signals,
    exports: parsed.exports,
    http: parsed.http,
  });
  const storePath = storePathOf(parsed.store, env, dir);
  // 6. Warnings that only make sense on a config that is otherwise whole.
  if (parsed.sim) checkSimAddresses(devices.miners, entries.meters, warnings);
  checkSiteMeter({ parsed, siteMeter: devices.siteMeter, problems, warnings });
  // 7. Every problem and warning at its line in the file, then all thrown at once, or the pieces put together.
  for (const p of [...problems, ...warnings]) {
    // a problem of another file (a model file) carries its own line
    if (p.line !== undefined || p.path === "" || p.file !== undefined) continue;
    const at = locate(p.path);
    if (at) Object.assign(p, { line: at.line, col: at.col });
  }
  const config = assembleConfig(
    { file, abs, parsed, entries, devices, storePath, failsafeBudgetW, models },
    problems,
    warnings,
  );
  return { config, warnings };
}
