// Stock Antminer web CGI: the only control path of stock firmware (its 4028 API
// is read-only). lighttpd guards /cgi-bin/ with HTTP Digest auth (RFC 7616,
// RFC 2617; realm "antMiner Configuration", default root/root).
//
// - GET  /cgi-bin/get_miner_conf.cgi → the whole miner config as JSON, with the
//   work mode in `bitmain-work-mode` ("0" normal, "1" sleep, "2" high, "3" low
//   power; a string on most firmware, a number on some).
// - POST /cgi-bin/set_miner_conf.cgi with a JSON body → {"stats":"success",
//   "code":"M000","msg":"OK!"}. The mode is written as `miner-mode`: writing
//   `bitmain-work-mode` answers M000 OK and changes nothing (asic-rs #245/#249).
//   The CGI rewrites the whole config from the body, so the body carries the
//   pools and fan settings read just before (pyasic sends the same set of keys).
//   It restarts the mining process and can take about 21 s to answer, hence the
//   30 s write timeout; a read (GET) gets a shorter one.
//
// - GET  /cgi-bin/get_blink_status.cgi → {"blink": true|false}: the locate LED.
// - POST /cgi-bin/blink.cgi {"blink": true|false} starts or stops it (pyasic
//   sends the value as a string, asic-rs as a boolean: the read-back decides
//   which one a unit took, as for miner-mode).
// - GET  /cgi-bin/reboot.cgi reboots the unit; it may drop the connection
//   instead of answering (asic-rs), which counts as sent: the uptime read back
//   decides.
//
// Requests go on briefly kept-alive connections (http-client.ts), the reboot on
// one of its own; every request under a deadline that destroys the socket. The first request goes out without credentials; a
// 401 is answered once with a Digest Authorization; a second 401 means the
// credentials are wrong (WK_ANTMINER_AUTH, not retryable).
import { DriverError } from "../../../types.ts";
import type { DigestCredentials } from "../../digest-auth.ts";
import { digestRequest, type HttpReply, type HttpTarget, isHttpTransportError } from "../../http-client.ts";

export {
  type DigestCredentials,
  digestAuthorization,
  digestChallenges,
  digestResponse,
  parseAuthenticate,
} from "../../digest-auth.ts";

export interface WebTimeouts {
  /** TCP connect deadline. */
  connectTimeoutMs: number;
  /** Whole-request deadline for reads (get_miner_conf). */
  readTimeoutMs: number;
  /** Whole-request deadline for set_miner_conf (the CGI can take ~21 s). */
  writeTimeoutMs: number;
}

const DEFAULT_WEB_TIMEOUTS: WebTimeouts = {
  connectTimeoutMs: 3000,
  readTimeoutMs: 10_000,
  writeTimeoutMs: 30_000,
};

export const DEFAULT_WEB_PORT = 80;
const GET_MINER_CONF = "/cgi-bin/get_miner_conf.cgi";
const SET_MINER_CONF = "/cgi-bin/set_miner_conf.cgi";
const GET_BLINK_STATUS = "/cgi-bin/get_blink_status.cgi";
const BLINK = "/cgi-bin/blink.cgi";
const REBOOT = "/cgi-bin/reboot.cgi";

// --- get/set_miner_conf --------------------------------------------------------

export type MinerConf = Record<string, unknown>;

export const WORK_MODE = { normal: 0, sleep: 1, high: 2, low: 3 } as const;

/** The work mode a config reports (string or number), else null. */
export function workModeOf(conf: MinerConf): number | null {
  for (const key of ["bitmain-work-mode", "miner-mode"]) {
    const v = conf[key];
    const n = typeof v === "number" ? v : typeof v === "string" && /^\s*\d+\s*$/.test(v) ? Number(v) : null;
    if (n !== null && Number.isInteger(n)) return n;
  }
  return null;
}

interface PoolEntry {
  url: string;
  user: string;
  pass: string;
}

function poolsOf(conf: MinerConf): PoolEntry[] {
  const pools = Array.isArray(conf.pools) ? conf.pools : [];
  return pools
    .filter((p): p is Record<string, unknown> => typeof p === "object" && p !== null)
    .map((p) => ({
      url: typeof p.url === "string" ? p.url : "",
      user: typeof p.user === "string" ? p.user : "",
      pass: typeof p.pass === "string" ? p.pass : "",
    }));
}

/**
 * The set_miner_conf body for `mode`. The CGI rebuilds the whole config from it,
 * so it carries what the unit has now (read from get_miner_conf): the pools
 * (url/user/pass, as many as configured), `bitmain-fan-ctrl` and
 * `bitmain-fan-pwm`, and `freq-level` (from `bitmain-freq-level`), plus
 * `miner-mode` — the key the CGI acts on. Never `bitmain-work-mode`.
 */
export function setMinerConfBody(conf: MinerConf, mode: number, asString: boolean): MinerConf {
  const body: MinerConf = { pools: poolsOf(conf) };
  if (typeof conf["bitmain-fan-ctrl"] === "boolean") body["bitmain-fan-ctrl"] = conf["bitmain-fan-ctrl"];
  const pwm = conf["bitmain-fan-pwm"];
  if (typeof pwm === "string" || typeof pwm === "number") body["bitmain-fan-pwm"] = String(pwm);
  const freq = conf["bitmain-freq-level"] ?? conf["freq-level"];
  if (typeof freq === "string" || typeof freq === "number") body["freq-level"] = String(freq);
  body["miner-mode"] = asString ? String(mode) : mode;
  return body;
}

export interface AntminerWebTarget {
  host: string;
  webPort?: number;
}

/** Which value encoding of miner-mode a unit acted on last (host:port → string?). */
const modeEncoding = new Map<string, boolean>();
/** The same for blink.cgi's value. */
const blinkEncoding = new Map<string, boolean>();

/** `{"blink": …}` of get_blink_status as a boolean (boolean or "true"/"false"), else null. */
export function blinkOf(reply: unknown): boolean | null {
  if (typeof reply !== "object" || reply === null) return null;
  const v = (reply as Record<string, unknown>).blink;
  if (typeof v === "boolean") return v;
  if (typeof v === "string" && /^\s*(true|false)\s*$/i.test(v)) return v.trim().toLowerCase() === "true";
  return null;
}

export class AntminerWebClient {
  readonly target: HttpTarget;
  readonly creds: DigestCredentials;
  readonly timeouts: WebTimeouts;

  constructor(target: AntminerWebTarget, creds: DigestCredentials, timeouts: Partial<WebTimeouts> = {}) {
    this.target = { host: target.host, port: target.webPort ?? DEFAULT_WEB_PORT };
    this.creds = creds;
    this.timeouts = { ...DEFAULT_WEB_TIMEOUTS, ...timeouts };
  }

  private get key(): string {
    return `${this.target.host}:${this.target.port}`;
  }

  /** A GET answered with a JSON object (any other reply is WK_ANTMINER_BAD_REPLY). */
  private async getObject(
    path: string,
    signal: AbortSignal | undefined,
    timeoutMs: number,
  ): Promise<Record<string, unknown>> {
    const reply = await digestRequest(this.target, this.creds, {
      method: "GET",
      path,
      connectTimeoutMs: this.timeouts.connectTimeoutMs,
      timeoutMs,
      signal,
    });
    checkStatus(reply, path);
    const obj = parseJson(reply.body);
    if (obj === undefined || typeof obj !== "object" || obj === null || Array.isArray(obj)) {
      throw new DriverError(
        "WK_ANTMINER_BAD_REPLY",
        `${path}: not a JSON object: ${reply.body.toString("utf8").slice(0, 80)}`,
        false,
      );
    }
    return obj as Record<string, unknown>;
  }

  /** GET get_miner_conf.cgi. `timeoutMs` defaults to the read timeout. */
  getMinerConf(signal?: AbortSignal, timeoutMs = this.timeouts.readTimeoutMs): Promise<MinerConf> {
    return this.getObject(GET_MINER_CONF, signal, timeoutMs);
  }

  /** Whether the locate LED blinks (get_blink_status.cgi). */
  async getBlink(signal?: AbortSignal): Promise<boolean> {
    const reply = await this.getObject(GET_BLINK_STATUS, signal, this.timeouts.readTimeoutMs);
    const on = blinkOf(reply);
    if (on === null) {
      throw new DriverError(
        "WK_ANTMINER_BAD_REPLY",
        `${GET_BLINK_STATUS}: no boolean "blink" in ${JSON.stringify(reply).slice(0, 80)}`,
        false,
      );
    }
    return on;
  }

  /**
   * Starts or stops the locate LED and reads it back: the value as a boolean
   * first, then as a string when the read-back shows no change (the encoding
   * that worked is remembered per unit). A unit that answers and keeps its LED
   * as it was is WK_ANTMINER_LOCATE_IGNORED.
   */
  async setBlink(on: boolean, signal?: AbortSignal): Promise<void> {
    if ((await this.getBlink(signal)) === on) return;
    const learned = blinkEncoding.get(this.key);
    const order = learned === undefined ? [false, true] : [learned, !learned];
    for (const asString of order) {
      const reply = await digestRequest(this.target, this.creds, {
        method: "POST",
        path: BLINK,
        body: Buffer.from(JSON.stringify({ blink: asString ? String(on) : on }), "utf8"),
        headers: { "Content-Type": "application/json" },
        connectTimeoutMs: this.timeouts.connectTimeoutMs,
        timeoutMs: this.timeouts.readTimeoutMs,
        signal,
      });
      checkStatus(reply, BLINK);
      if ((await this.getBlink(signal)) === on) {
        blinkEncoding.set(this.key, asString);
        return;
      }
    }
    throw new DriverError(
      "WK_ANTMINER_LOCATE_IGNORED",
      `${BLINK} answered but ${GET_BLINK_STATUS} still reads blink ${!on} (sent ${on} as boolean and as string)`,
      false,
    );
  }

  /**
   * GET reboot.cgi. A unit going down may close the connection before it
   * answers: a reset after the request went out counts as sent.
   */
  async reboot(signal?: AbortSignal): Promise<void> {
    let reply: HttpReply;
    try {
      reply = await digestRequest(this.target, this.creds, {
        method: "GET",
        path: REBOOT,
        fresh: true,
        connectTimeoutMs: this.timeouts.connectTimeoutMs,
        timeoutMs: this.timeouts.readTimeoutMs,
        signal,
      });
    } catch (err) {
      if (isHttpTransportError(err) && err.code === "WK_ANTMINER_RESET") return;
      throw err;
    }
    checkStatus(reply, REBOOT);
  }

  /** POST set_miner_conf.cgi with the write timeout; throws unless the CGI says success. */
  async setMinerConf(body: MinerConf, signal?: AbortSignal): Promise<void> {
    const reply = await digestRequest(this.target, this.creds, {
      method: "POST",
      path: SET_MINER_CONF,
      body: Buffer.from(JSON.stringify(body), "utf8"),
      headers: { "Content-Type": "application/json" },
      connectTimeoutMs: this.timeouts.connectTimeoutMs,
      timeoutMs: this.timeouts.writeTimeoutMs,
      signal,
    });
    checkStatus(reply, SET_MINER_CONF);
    const r = parseJson(reply.body) as { stats?: unknown; code?: unknown; msg?: unknown } | undefined;
    // older firmware answers plain text; the read-back decides then
    if (r && typeof r === "object" && typeof r.stats === "string" && r.stats.toLowerCase() !== "success") {
      throw new DriverError(
        "WK_ANTMINER_REJECTED",
        `${SET_MINER_CONF}: ${String(r.code ?? "?")} ${String(r.msg ?? r.stats)}`,
        false,
      );
    }
  }

  /**
   * Sets the work mode: reads the config, posts it back with `miner-mode`, and
   * re-reads to check the unit took it. Returns the mode found before.
   */
  async setWorkMode(mode: number, signal?: AbortSignal): Promise<number | null> {
    return (await this.changeWorkMode(() => mode, signal)).previous;
  }

  /**
   * Changes the work mode to what `choose` picks from the mode the unit is in
   * (null: leave it as it is; it may throw to refuse). Reads the config, posts
   * it back with `miner-mode`, and re-reads to check the unit took it. A
   * number is sent first (what most firmware expects); when the read-back
   * shows no change, the same body with the value as a string. The encoding
   * that worked is remembered per unit. A mode that does not read back after
   * both is WK_ANTMINER_MODE_IGNORED.
   */
  async changeWorkMode(
    choose: (previous: number | null) => number | null,
    signal?: AbortSignal,
  ): Promise<{ previous: number | null; mode: number | null }> {
    // the write path may follow a slow CGI: its reads get the write deadline too
    const conf = await this.getMinerConf(signal, this.timeouts.writeTimeoutMs);
    const previous = workModeOf(conf);
    const mode = choose(previous);
    if (mode === null || previous === mode) return { previous, mode: previous };
    const learned = modeEncoding.get(this.key);
    const order = learned === undefined ? [false, true] : [learned, !learned];
    let seen: number | null = previous;
    for (const asString of order) {
      await this.setMinerConf(setMinerConfBody(conf, mode, asString), signal);
      const after = await this.getMinerConf(signal, this.timeouts.writeTimeoutMs);
      seen = workModeOf(after);
      if (seen === mode) {
        modeEncoding.set(this.key, asString);
        return { previous, mode };
      }
    }
    throw new DriverError(
      "WK_ANTMINER_MODE_IGNORED",
      `set_miner_conf answered OK but the work mode stayed ${seen ?? "unknown"} (miner-mode ${mode} sent as number and as string)`,
      false,
    );
  }
}

function checkStatus(reply: HttpReply, path: string): void {
  if (reply.status >= 200 && reply.status < 300) return;
  const retryable = reply.status >= 500 || reply.status === 408 || reply.status === 429;
  throw new DriverError(
    reply.status === 404 ? "WK_ANTMINER_NO_CGI" : "WK_ANTMINER_HTTP",
    `${path}: HTTP ${reply.status}${reply.status === 404 ? " (not stock Antminer firmware?)" : ""}`,
    retryable,
  );
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    return undefined;
  }
}
