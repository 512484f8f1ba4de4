// Starts the site's HTTP server (status page, /api, /metrics, /healthz) on
// its port onto the site: its connection limit fitted to the file
// descriptors the devices leave (planned and logged at start), and its TLS
// material from `http.tls` — files, or a self-signed certificate made once in
// the state directory — with the fingerprint logged for a technician to
// compare with the browser's.
import { dirname } from "node:path";
import type { SiteConfig } from "../../config/schema.ts";
import { DEFAULT_MINER_CONCURRENCY } from "../devices/pollers.ts";
import { HttpServer } from "../http/server.ts";
import type { Sessions } from "../http/sessions.ts";
import { selfSignedTls, type TlsMaterial, tlsFromFiles } from "../http/tls.ts";
import type { HttpSite } from "../http/types.ts";
import { planFds, readFdLimit } from "../runtime/fd-budget.ts";
import type { Logger } from "../runtime/logger.ts";

export interface HttpStart {
  config: SiteConfig;
  listen: { host: string; port: number };
  minerConcurrency: number | undefined;
  sessions: Sessions;
  logger: Logger;
  site: HttpSite;
}

/** Builds and starts the server; resolves once it listens. */
export async function startHttp(o: HttpStart): Promise<HttpServer> {
  const { config, listen } = o;
  const log = o.logger;
  const limits = config.http.limits;
  const fd = planFds(
    {
      miners: config.miners.length,
      minerConcurrency: o.minerConcurrency ?? DEFAULT_MINER_CONCURRENCY,
      sessionMiners: config.miners.filter((m) => m.dialect === "braiins").length,
      gpuNodes: config.gpuNodes.length,
      meterConnections: config.meters.length,
    },
    limits.maxConnections,
    readFdLimit(),
  );
  if (fd.warning) log.warn({ component: "http", fd }, fd.warning);
  else
    log.info(
      { component: "http", fd },
      `file descriptors: ${fd.reserved} kept for devices, HTTP up to ${fd.httpMaxConnections} connections`,
    );
  const tls = await httpTls(config, listen.host, log);
  const http = new HttpServer({
    host: listen.host,
    port: listen.port,
    tls,
    logger: log.child({ component: "http" }),
    operators: config.http.operators,
    sessions: o.sessions,
    limits: { ...limits, maxConnections: fd.httpMaxConnections },
    fd,
    site: o.site,
  });
  await http.start();
  const addr = http.address();
  log.info(
    { component: "http", listen: addr, tls: !!tls },
    `${tls ? "https" : "http"} listening on ${addr?.address}:${addr?.port}`,
  );
  return http;
}

/**
 * The page's certificate and key (config `http.tls`), or null for plain HTTP.
 * Its SHA-256 fingerprint is logged, so a technician can compare it with
 * what the browser shows for a self-signed certificate.
 */
async function httpTls(config: SiteConfig, listenHost: string, log: Logger): Promise<TlsMaterial | null> {
  const t = config.http.tls;
  if (!t) return null;
  let m: TlsMaterial;
  if ("selfSigned" in t) {
    const made = await selfSignedTls(dirname(config.store.path), { siteId: config.site.id, listenHost });
    m = made;
    if (made.created) log.info({ component: "http", file: made.source }, "self-signed certificate made");
  } else {
    if (!t.cert || !t.key) throw new Error("http.tls: certFile and keyFile could not be read");
    m = tlsFromFiles(t.cert, t.key, t.certFile);
  }
  log.info(
    { component: "http", fingerprint256: m.fingerprint256, source: m.source },
    `https certificate SHA-256 fingerprint ${m.fingerprint256} (compare it with the one the browser shows)`,
  );
  return m;
}
