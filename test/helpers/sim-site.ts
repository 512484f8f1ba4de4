// A site on the embedded simulator for integration and browser tests: the config
// written to a temporary folder, loaded as `run` loads it, the simulator started
// from its `sim:` section and the Site on an ephemeral HTTP port.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSimFromConfig } from "../../agent/cli/simulated-site.ts";
import { hashPassword } from "../../agent/http/password.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { Site, type SiteOptions } from "../../agent/site/site.ts";
import { loadConfig } from "../../config/load.ts";
import type { SiteConfig } from "../../config/schema.ts";

export interface SimSite {
  dir: string;
  config: SiteConfig;
  site: Site;
  sim: Awaited<ReturnType<typeof startSimFromConfig>>;
  /** `http://127.0.0.1:PORT` of the site's HTTP server. */
  base: string;
  stop(): Promise<void>;
}

/** The site's options in tests: HTTP on an ephemeral port, quick polls. */
export function testSiteOptions(o: SiteOptions = {}): SiteOptions {
  return { httpListen: { host: "127.0.0.1", port: 0 }, minerPollMs: 300, meterPollMs: 250, ...o };
}

/** Writes `yaml` as site.yaml in a new temporary folder named after `prefix`, starts sim and site. */
export async function startSimSite(prefix: string, yaml: string, site: SiteOptions = {}): Promise<SimSite> {
  const dir = mkdtempSync(join(tmpdir(), `wk-${prefix}-`));
  const file = join(dir, "site.yaml");
  writeFileSync(file, yaml);
  const { config } = await loadConfig(file, { strictFiles: true });
  const sim = await startSimFromConfig(config, silentLogger());
  const s = new Site(config, silentLogger(), testSiteOptions(site));
  await s.start();
  return {
    dir,
    config,
    site: s,
    sim,
    base: `http://127.0.0.1:${s.httpAddress()!.port}`,
    stop: async () => {
      await s.stop();
      await sim.stop();
    },
  };
}

/** An operator's password hash at a cheap scrypt cost (quick tests; the format is the production one). */
export function testPasswordHash(password: string): Promise<string> {
  return hashPassword(password, { N: 1024, r: 8, p: 1 });
}
