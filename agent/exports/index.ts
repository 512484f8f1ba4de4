// Starts the exports the config asks for (exports.sparkplug,
// exports.homeAssistant), each on a broker session of its own, and stops them
// together. An export that fails to start is logged and left out: the site
// runs without it rather than not at all. Each export's code is loaded only
// when the config asks for it: the Sparkplug codec (protobufjs) alone holds
// about 1 MiB of heap that a site without SCADA never uses.
import type { ExportOptions, ExportSite, RunningExport } from "./types.ts";

type ExportStarter = (site: ExportSite, opts: ExportOptions) => RunningExport | null;
type ExportKey = keyof NonNullable<ExportSite["config"]["exports"]>;

/** The exports this build has, in start order. */
const STARTERS: ReadonlyArray<{ name: ExportKey; load: () => Promise<ExportStarter> }> = [
  {
    name: "homeAssistant",
    load: async () => (await import("./home-assistant/export.ts")).startHomeAssistant,
  },
  { name: "sparkplug", load: async () => (await import("./sparkplug/export.ts")).startSparkplug },
];

export async function startExports(site: ExportSite, opts: ExportOptions): Promise<RunningExport> {
  const running: RunningExport[] = [];
  for (const { name, load } of STARTERS) {
    if (!site.config.exports?.[name]) continue;
    try {
      const start = await load();
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
