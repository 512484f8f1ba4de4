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
// One request per connection (no keep-alive), every request under a deadline
// that destroys the socket. The first request goes out without credentials; a
// 401 is answered once with a Digest Authorization; a second 401 means the
// credentials are wrong (WK_ANTMINER_AUTH, not retryable).
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import { DriverError } from "../types.ts";

export interface WebTimeouts {
  /** TCP connect deadline. */
  connectTimeoutMs: number;
  /** Whole-request deadline for reads (get_miner_conf). */
  readTimeoutMs: number;
  /** Whole-request deadline for set_miner_conf (the CGI can take ~21 s). */
  writeTimeoutMs: number;
}

export const DEFAULT_WEB_TIMEOUTS: WebTimeouts = {
  connectTimeoutMs: 3000,
  readTimeoutMs: 10_000,
  writeTimeoutMs: 30_000,
};

export const DEFAULT_WEB_PORT = 80;
export const GET_MINER_CONF = "/cgi-bin/get_miner_conf.cgi";
export const SET_MINER_CONF = "/cgi-bin/set_miner_conf.cgi";
const MAX_BODY_BYTES = 1024 * 1024;

export interface DigestCredentials {
  username: string;
  password: string;
}

// --- Digest (RFC 7616 / RFC 2617) --------------------------------------------

export type DigestAlgorithm = "MD5" | "MD5-sess" | "SHA-256" | "SHA-256-sess";

export interface DigestChallenge {
  realm: string;
  nonce: string;
  opaque: string | null;
  /** Offered qop values (empty: RFC 2069 style, no qop). */
  qop: string[];
  algorithm: DigestAlgorithm;
  stale: boolean;
  userhash: boolean;
}

/** One challenge per scheme occurrence, with its auth-params (names lower-cased). */
export function parseAuthenticate(values: readonly string[]): Array<{
  scheme: string;
  params: Record<string, string>;
}> {
  const out: Array<{ scheme: string; params: Record<string, string> }> = [];
  for (const value of values) {
    let i = 0;
    let current: { scheme: string; params: Record<string, string> } | null = null;
    const s = value;
    const skip = (re: RegExp) => {
      while (i < s.length && re.test(s[i]!)) i++;
    };
    while (i < s.length) {
      skip(/[\s,]/);
      const start = i;
      while (i < s.length && /[!#$%&'*+.^_`|~0-9A-Za-z-]/.test(s[i]!)) i++;
      const token = s.slice(start, i);
      if (token === "") {
        i++; // a stray character: skip it
        continue;
      }
      const afterToken = i;
      skip(/\s/);
      if (s[i] === "=" && current) {
        i++;
        skip(/\s/);
        let v = "";
        if (s[i] === '"') {
          i++;
          while (i < s.length && s[i] !== '"') {
            if (s[i] === "\\" && i + 1 < s.length) i++;
            v += s[i];
            i++;
          }
          i++; // closing quote
        } else {
          const vs = i;
          while (i < s.length && s[i] !== "," && !/\s/.test(s[i]!)) i++;
          v = s.slice(vs, i);
        }
        current.params[token.toLowerCase()] = v;
      } else {
        // a new scheme; a token68 after it (Basic/Bearer style) is skipped
        i = afterToken;
        current = { scheme: token, params: {} };
        out.push(current);
        skip(/\s/);
        const t68 = /^[A-Za-z0-9\-._~+/]+=*\s*(?=,|$)/.exec(s.slice(i));
        if (t68) i += t68[0].length;
      }
    }
  }
  return out;
}

const ALGORITHMS: Record<string, DigestAlgorithm> = {
  md5: "MD5",
  "md5-sess": "MD5-sess",
  "sha-256": "SHA-256",
  "sha-256-sess": "SHA-256-sess",
};

/** The Digest challenges we can answer, strongest first (SHA-256 before MD5; SHA-512-256 is skipped). */
export function digestChallenges(values: readonly string[]): DigestChallenge[] {
  const out: DigestChallenge[] = [];
  for (const c of parseAuthenticate(values)) {
    if (c.scheme.toLowerCase() !== "digest") continue;
    const p = c.params;
    if (p.nonce === undefined || p.realm === undefined) continue;
    const algorithm = ALGORITHMS[(p.algorithm ?? "MD5").toLowerCase()];
    if (!algorithm) continue;
    out.push({
      realm: p.realm,
      nonce: p.nonce,
      opaque: p.opaque ?? null,
      qop: (p.qop ?? "")
        .split(",")
        .map((q) => q.trim().toLowerCase())
        .filter((q) => q !== ""),
      algorithm,
      stale: (p.stale ?? "").toLowerCase() === "true",
      userhash: (p.userhash ?? "").toLowerCase() === "true",
    });
  }
  const rank = (a: DigestAlgorithm) => (a.startsWith("SHA-256") ? 0 : 1);
  return out.sort((a, b) => rank(a.algorithm) - rank(b.algorithm));
}

function hashOf(algorithm: DigestAlgorithm, s: string): string {
  return createHash(algorithm.startsWith("SHA-256") ? "sha256" : "md5")
    .update(s, "utf8")
    .digest("hex");
}

export interface DigestInput {
  algorithm: DigestAlgorithm;
  username: string;
  password: string;
  realm: string;
  nonce: string;
  method: string;
  uri: string;
  /** "auth", or null for a server that offered no qop (RFC 2069). */
  qop: "auth" | null;
  nc: string;
  cnonce: string;
}

/** The `response` value: KD(H(A1), nonce:nc:cnonce:qop:H(A2)) (RFC 7616 §3.4.1). */
export function digestResponse(d: DigestInput): string {
  const H = (s: string) => hashOf(d.algorithm, s);
  let ha1 = H(`${d.username}:${d.realm}:${d.password}`);
  if (d.algorithm.endsWith("-sess")) ha1 = H(`${ha1}:${d.nonce}:${d.cnonce}`);
  const ha2 = H(`${d.method}:${d.uri}`);
  return d.qop === null
    ? H(`${ha1}:${d.nonce}:${ha2}`)
    : H(`${ha1}:${d.nonce}:${d.nc}:${d.cnonce}:${d.qop}:${ha2}`);
}

const quote = (s: string) => `"${s.replace(/(["\\])/g, "\\$1")}"`;

/** The Authorization header answering `ch` for one request. */
export function digestAuthorization(
  ch: DigestChallenge,
  creds: DigestCredentials,
  method: string,
  uri: string,
  nc = 1,
  cnonce: string = randomBytes(16).toString("hex"),
): string {
  if (ch.qop.length > 0 && !ch.qop.includes("auth")) {
    // auth-int would need the body hashed; lighttpd (and every Antminer) offers auth
    throw new DriverError(
      "WK_ANTMINER_AUTH_UNSUPPORTED",
      `server offers qop=${ch.qop.join(",")} only`,
      false,
    );
  }
  const qop = ch.qop.length > 0 ? "auth" : null;
  const ncHex = nc.toString(16).padStart(8, "0");
  const response = digestResponse({
    algorithm: ch.algorithm,
    username: creds.username,
    password: creds.password,
    realm: ch.realm,
    nonce: ch.nonce,
    method,
    uri,
    qop,
    nc: ncHex,
    cnonce,
  });
  const username = ch.userhash ? hashOf(ch.algorithm, `${creds.username}:${ch.realm}`) : creds.username;
  const parts = [
    `username=${quote(username)}`,
    `realm=${quote(ch.realm)}`,
    `nonce=${quote(ch.nonce)}`,
    `uri=${quote(uri)}`,
    `algorithm=${ch.algorithm}`,
    `response=${quote(response)}`,
  ];
  if (ch.opaque !== null) parts.push(`opaque=${quote(ch.opaque)}`);
  if (qop) parts.push(`qop=${qop}`, `nc=${ncHex}`, `cnonce=${quote(cnonce)}`);
  if (ch.userhash) parts.push("userhash=true");
  return `Digest ${parts.join(", ")}`;
}

// --- HTTP --------------------------------------------------------------------

export interface HttpTarget {
  host: string;
  port: number;
}

export interface HttpReply {
  status: number;
  /** Every WWW-Authenticate header, in order. */
  authenticate: string[];
  body: Buffer;
}

interface RequestOptions {
  method: "GET" | "POST";
  path: string;
  body?: Buffer;
  headers?: Record<string, string>;
  connectTimeoutMs: number;
  /** Deadline for the whole exchange, connect included. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** One HTTP/1.1 request on its own connection. The deadline destroys the socket. */
export function httpRequest(target: HttpTarget, opts: RequestOptions): Promise<HttpReply> {
  return new Promise<HttpReply>((resolve, reject) => {
    let settled = false;
    let connected = false;
    const headers: Record<string, string> = {
      Accept: "application/json, text/plain, */*",
      Connection: "close",
      ...opts.headers,
    };
    if (opts.body) headers["Content-Length"] = String(opts.body.length);
    const req = http.request({
      host: target.host,
      port: target.port,
      method: opts.method,
      path: opts.path,
      headers,
      agent: false,
    });
    const where = `${opts.method} http://${target.host}:${target.port}${opts.path}`;
    const finish = (err: DriverError | null, reply?: HttpReply) => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      clearTimeout(deadline);
      opts.signal?.removeEventListener("abort", onAbort);
      req.on("error", () => {}); // late errors after destroy must not crash the process
      req.destroy();
      if (err) reject(err);
      else resolve(reply!);
    };
    const onAbort = () => finish(new DriverError("WK_ANTMINER_ABORTED", `${where}: aborted`, false));
    const connectTimer = setTimeout(() => {
      if (!connected)
        finish(
          new DriverError(
            "WK_ANTMINER_TIMEOUT",
            `${where}: connect timed out after ${opts.connectTimeoutMs} ms`,
            true,
          ),
        );
    }, opts.connectTimeoutMs);
    const deadline = setTimeout(() => {
      finish(new DriverError("WK_ANTMINER_TIMEOUT", `${where}: no reply within ${opts.timeoutMs} ms`, true));
    }, opts.timeoutMs);
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener("abort", onAbort, { once: true });

    req.on("socket", (sock) => {
      sock.once("connect", () => {
        connected = true;
      });
    });
    req.on("error", (err: NodeJS.ErrnoException) => finish(classifyHttpError(err, where)));
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY_BYTES) {
          finish(new DriverError("WK_ANTMINER_BAD_REPLY", `${where}: reply larger than 1 MiB`, false));
          return;
        }
        chunks.push(c);
      });
      res.on("error", (err: NodeJS.ErrnoException) => finish(classifyHttpError(err, where)));
      res.on("end", () => {
        const authenticate: string[] = [];
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
          if (res.rawHeaders[i]!.toLowerCase() === "www-authenticate")
            authenticate.push(res.rawHeaders[i + 1]!);
        }
        finish(null, { status: res.statusCode ?? 0, authenticate, body: Buffer.concat(chunks, size) });
      });
    });
    req.end(opts.body);
  });
}

function classifyHttpError(err: NodeJS.ErrnoException, where: string): DriverError {
  switch (err.code) {
    case "ECONNREFUSED":
      return new DriverError("WK_ANTMINER_REFUSED", `${where}: connection refused`, true, { cause: err });
    case "ECONNRESET":
    case "EPIPE":
      return new DriverError("WK_ANTMINER_RESET", `${where}: connection reset`, true, { cause: err });
    case "EHOSTUNREACH":
    case "ENETUNREACH":
    case "ETIMEDOUT":
      return new DriverError("WK_ANTMINER_UNREACHABLE", `${where}: ${err.code}`, true, { cause: err });
    default:
      return new DriverError("WK_ANTMINER_IO", `${where}: ${err.code ?? err.message}`, true, { cause: err });
  }
}

/**
 * A request behind Digest auth: sent once without credentials; a 401 is answered
 * once with credentials for the strongest challenge offered. A 401 to that means
 * the credentials are wrong (WK_ANTMINER_AUTH, not retryable).
 */
export async function digestRequest(
  target: HttpTarget,
  creds: DigestCredentials,
  opts: RequestOptions,
): Promise<HttpReply> {
  const first = await httpRequest(target, opts);
  if (first.status !== 401) return first;
  const ch = digestChallenges(first.authenticate)[0];
  if (!ch) {
    throw new DriverError(
      "WK_ANTMINER_AUTH",
      `${opts.path}: 401 without a Digest challenge we can answer (${first.authenticate.join(" | ") || "none"})`,
      false,
    );
  }
  const second = await httpRequest(target, {
    ...opts,
    headers: { ...opts.headers, Authorization: digestAuthorization(ch, creds, opts.method, opts.path) },
  });
  if (second.status === 401) {
    throw new DriverError(
      "WK_ANTMINER_AUTH",
      `web login refused for user "${creds.username}" (realm "${ch.realm}"): wrong username or password`,
      false,
    );
  }
  return second;
}

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

  /** GET get_miner_conf.cgi. `timeoutMs` defaults to the read timeout. */
  async getMinerConf(signal?: AbortSignal, timeoutMs = this.timeouts.readTimeoutMs): Promise<MinerConf> {
    const reply = await digestRequest(this.target, this.creds, {
      method: "GET",
      path: GET_MINER_CONF,
      connectTimeoutMs: this.timeouts.connectTimeoutMs,
      timeoutMs,
      signal,
    });
    checkStatus(reply, GET_MINER_CONF);
    const conf = parseJson(reply.body);
    if (conf === undefined || typeof conf !== "object" || conf === null || Array.isArray(conf)) {
      throw new DriverError(
        "WK_ANTMINER_BAD_REPLY",
        `${GET_MINER_CONF}: not a JSON object: ${reply.body.toString("utf8").slice(0, 80)}`,
        false,
      );
    }
    return conf as MinerConf;
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
   * re-reads to check the unit took it. A number is sent first (what most
   * firmware expects); when the read-back shows no change, the same body with
   * the value as a string. The encoding that worked is remembered per unit.
   * Returns the mode found before the change.
   */
  async setWorkMode(mode: number, signal?: AbortSignal): Promise<number | null> {
    // the write path may follow a slow CGI: its reads get the write deadline too
    const conf = await this.getMinerConf(signal, this.timeouts.writeTimeoutMs);
    const previous = workModeOf(conf);
    if (previous === mode) return previous;
    const learned = modeEncoding.get(this.key);
    const order = learned === undefined ? [false, true] : [learned, !learned];
    let seen: number | null = previous;
    for (const asString of order) {
      await this.setMinerConf(setMinerConfBody(conf, mode, asString), signal);
      const after = await this.getMinerConf(signal, this.timeouts.writeTimeoutMs);
      seen = workModeOf(after);
      if (seen === mode) {
        modeEncoding.set(this.key, asString);
        return previous;
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
