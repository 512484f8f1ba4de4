// `dialect: auto`: asks the miner who it is without writing anything. First the
// CGMiner API on the API port (`version`, then `devdetails`), whose firmware
// markers (LUXMINER, BOSMINER/BOSER, BTMINER/BITMICRO, AVALON, GCMINER/FLUXOS — the
// ones pyasic's socket probe also relies on) settle it. A reply that is not the
// CGMiner API (ePIC answers HTTP on 4028, with 400, at once) or no answer at all
// goes on to the probes the registered dialects declare (their HTTP APIs,
// Whatsminer v3 on 4433), asked at once; the first in the registry's order that
// recognises its firmware wins. When the API port could not even be connected
// to, the probes on that same port are not asked, and the host is first knocked
// (a bare TCP connect, nothing sent) on the ports the other probes use: only the
// probes whose port is open are asked, and a host with none open is not a miner
// — a scan's dead hosts cost one bare connect per port, not an HTTP request per
// firmware (two firmwares share port 80). A plain CGMiner answer (no vendor
// named) asks only the firmwares that keep one (VNish); with none behind it, the
// miner is stock: `antminer` when the answer is Bitmain's own (a `BMMiner`
// version, or an "Antminer …" Type), else `cgminer` (cgminer, bfgminer on other
// hardware). Stock Bitmain is told from the reply already in hand: no probe of
// its web CGI, nothing extra on the hot path.
import { connect } from "node:net";
import { unhook, whenAborted } from "../abort.ts";
import { DriverError } from "../types.ts";
import { CgminerClient } from "./client.ts";
import { DIALECT_SPECS } from "./dialects/index.ts";
import type { DialectName, DialectSpec, MinerEndpoint } from "./driver.ts";
import { DEFAULT_CONNECT_TIMEOUT_MS, type ExchangeOptions } from "./framing.ts";
import type { HttpReply } from "./http-client.ts";
import { RecentReplies } from "./recent-replies.ts";

const MARKERS: Array<[RegExp, DialectName]> = [
  [/LUXMINER|LUXOR/i, "luxos"],
  [/BOSMINER|BOSER|BRAIINS/i, "braiins"],
  [/BTMINER|BITMICRO|WHATSMINER/i, "whatsminer"],
  [/AVALON|CANAAN/i, "avalon"],
  // Auradine FluxOS: its 4028 API is GCMiner; some replies describe themselves as FluxOS-<version>
  [/GCMINER|FLUXOS/i, "auradine"],
];

/** The dialect a reply's text points to; null when it carries no vendor marker. */
export function dialectFromText(text: string): DialectName | null {
  for (const [re, name] of MARKERS) if (re.test(text)) return name;
  return null;
}

/**
 * Whether a plain CGMiner `version` reply is Bitmain's stock bmminer: its
 * `BMMiner` version key, or a Type naming an Antminer. A Type that names other
 * firmware on an Antminer ("Antminer S19 XP (Vnish 1.2.6)") is not stock.
 */
export function isStockBitmain(text: string): boolean {
  if (/\b(vnish|hiveon)\b/i.test(text)) return false;
  return /"BMMiner"\s*:/.test(text) || /"Type"\s*:\s*"\s*Antminer\b/i.test(text);
}

export interface Detection {
  dialect: DialectName;
  /** The text the decision was made on (for logs and `scan`). */
  evidence: string;
  /** The HTTP probes' replies: the first read asks none of them again (recent-replies.ts). */
  replies?: RecentReplies<HttpReply>;
}

/** A CGMiner answer: the dialect its markers name (null: none), and whether it is stock Bitmain. */
type CgminerAnswer =
  | { dialect: DialectName | null; evidence: string; bitmain?: boolean }
  | { error: unknown };

async function askCgminer(
  endpoint: MinerEndpoint,
  exchange: ExchangeOptions,
  signal?: AbortSignal,
): Promise<CgminerAnswer> {
  const client = new CgminerClient(endpoint, exchange);
  let lastError: unknown = null;
  for (const command of ["version", "devdetails"]) {
    try {
      const { replies } = await client.command([command], undefined, signal);
      const text = JSON.stringify(replies[command] ?? "");
      const found = dialectFromText(text);
      if (found) return { dialect: found, evidence: `${command}: ${found}` };
      if (command === "version") {
        const bitmain = isStockBitmain(text);
        return {
          dialect: null,
          evidence: bitmain ? "version: stock Bitmain (bmminer)" : "version: no vendor marker",
          bitmain,
        };
      }
    } catch (err) {
      lastError = err;
      // Whatsminer firmware may refuse `version` but answer `devdetails`, or the other way round
      if (!(err instanceof DriverError) || err.code !== "WK_CGMINER_ERROR_STATUS") return { error: err };
    }
  }
  if (lastError instanceof DriverError) return { error: lastError };
  return { dialect: null, evidence: "no vendor marker" };
}

/**
 * The CGMiner probe could not connect to the API port at all (refused, no
 * route, connect timeout): an HTTP probe on that same port (ePIC) would only
 * wait again, which a scan of dead hosts pays for every host.
 */
function apiPortDead(err: unknown): boolean {
  if (!(err instanceof DriverError)) return false;
  if (err.code === "WK_CGMINER_REFUSED" || err.code === "WK_CGMINER_UNREACHABLE") return true;
  return err.code === "WK_CGMINER_TIMEOUT" && /^connect timed out/.test(err.message);
}

/**
 * Whether a TCP connect to host:port succeeds within the deadline (nothing sent). An open
 * port is closed with a reset, as port scanners do: an orderly close would leave a TIME_WAIT
 * entry behind on the gateway for a minute per knock, and a scan of a large range knocks
 * thousands of times.
 */
function knock(
  { host, port }: { host: string; port: number },
  { timeoutMs, signal }: { timeoutMs: number; signal?: AbortSignal | undefined },
): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const sock = connect({ host, port });
    const done = (open: boolean) => {
      clearTimeout(timer);
      if (signal) unhook(signal, onAbort);
      if (open) sock.resetAndDestroy();
      else sock.destroy();
      resolve(open);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(false), timeoutMs);
    if (signal) whenAborted(signal, onAbort);
    sock.once("connect", () => done(true));
    sock.once("error", () => done(false));
  });
}

/** The registered dialects that have a detection probe, in registry order. */
function probeSpecs(): DialectSpec[] {
  return Object.values(DIALECT_SPECS).filter((spec): spec is DialectSpec => spec?.detectProbe !== undefined);
}

/**
 * Asks every registered HTTP probe at once (a dead host costs one timeout, not one per
 * firmware); the first in registry order that recognises its firmware wins.
 */
async function askHttp(
  endpoint: MinerEndpoint,
  exchange: ExchangeOptions,
  {
    signal,
    replies,
    skipPorts = new Set(),
    afterPlainCgminer = false,
  }: {
    signal?: AbortSignal | undefined;
    /** Where the probes' replies are kept for the driver that binds. */
    replies: RecentReplies<HttpReply>;
    /** Ports not to ask on (they could not be connected to, or were asked already). */
    skipPorts?: ReadonlySet<number>;
    /** The API port answered as a plain CGMiner API: only firmwares that keep one are asked. */
    afterPlainCgminer?: boolean;
  },
): Promise<Detection | null> {
  const specs = probeSpecs().filter((spec) => {
    const probe = spec.detectProbe!;
    if (afterPlainCgminer && !probe.behindPlainCgminer) return false;
    return !skipPorts.has(probe.port(endpoint));
  });
  const answers = await Promise.allSettled(
    specs.map((spec) =>
      spec.detectProbe!.probe({ endpoint, exchange, signal, now: Date.now, recent: replies }),
    ),
  );
  for (const [i, a] of answers.entries()) {
    const spec = specs[i]!;
    if (a.status === "fulfilled" && a.value !== null)
      return { dialect: spec.name, evidence: a.value, replies };
  }
  return null;
}

/**
 * Detects a miner's dialect. Throws a DriverError when the miner does not
 * answer at all (refused, timeout): the caller retries later.
 */
export async function detectDialect(
  endpoint: MinerEndpoint,
  exchange: ExchangeOptions = {},
  signal?: AbortSignal,
): Promise<Detection> {
  const cg = await askCgminer(endpoint, exchange, signal);
  if ("dialect" in cg && cg.dialect !== null) return { dialect: cg.dialect, evidence: cg.evidence };
  const deadPorts = new Set<number>();
  const replies = new RecentReplies<HttpReply>();
  if ("error" in cg && apiPortDead(cg.error)) {
    deadPorts.add(endpoint.port);
    const ports = [...new Set(probeSpecs().map((spec) => spec.detectProbe!.port(endpoint)))].filter(
      (port) => port !== endpoint.port,
    );
    const open = await Promise.all(
      ports.map((port) =>
        knock(
          { host: endpoint.host, port },
          { timeoutMs: exchange.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, signal },
        ),
      ),
    );
    for (const [i, port] of ports.entries()) if (!open[i]) deadPorts.add(port);
    // nothing listens where any firmware we speak would: not a miner (or switched off)
    if (!open.includes(true)) throw cg.error;
  }
  if ("error" in cg && !apiPortDead(cg.error)) {
    // the API port answered, but not as the CGMiner API (ePIC's HTTP): the firmwares that
    // serve HTTP on that port are asked first, the rest only if none of them is it
    const others = new Set(probeSpecs().map((spec) => spec.detectProbe!.port(endpoint)));
    others.delete(endpoint.port);
    const onApiPort = await askHttp(endpoint, exchange, { signal, replies, skipPorts: others });
    if (onApiPort) return onApiPort;
    deadPorts.add(endpoint.port);
  }
  const http = await askHttp(endpoint, exchange, {
    signal,
    replies,
    skipPorts: deadPorts,
    afterPlainCgminer: "dialect" in cg,
  });
  if (http) return http;
  if ("dialect" in cg) return { dialect: cg.bitmain ? "antminer" : "cgminer", evidence: cg.evidence };
  throw cg.error;
}
