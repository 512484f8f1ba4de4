// Starts the exports the config asks for (exports.sparkplug,
// exports.homeAssistant), each on a broker session of its own, and stops them
// together. An export that fails to start is logged and left out: the site
// runs without it rather than not at all.
import { startHomeAssistant } from "./home-assistant/export.ts";
import { startSparkplug } from "./sparkplug/export.ts";
import type { ExportOptions, ExportSite, RunningExport } from "./types.ts";

type ExportStarter = (site: ExportSite, opts: ExportOptions) => RunningExport | null;

/** The exports this build has, in start order; each returns null when its config key is absent. */
const STARTERS: ReadonlyArray<{ name: string; start: ExportStarter }> = [
  { name: "homeAssistant", start: startHomeAssistant },
  { name: "sparkplug", start: startSparkplug },
];

export function startExports(site: ExportSite, opts: ExportOptions): RunningExport {
  const running: RunningExport[] = [];
  for (const { name, start } of STARTERS) {
    try {
      const r = start(site, { ...opts, logger: opts.logger.child({ export: name }) });
      if (r) running.push(r);
    } catch (err) {
      opts.logger.error({ err, export: name }, `export ${name} did not start: ${(err as Error).message}`);
    }
  }
  return {
    stop: async () => {
      await Promise.all(running.map((r) => r.stop().catch(() => undefined)));
    },
  };
}
