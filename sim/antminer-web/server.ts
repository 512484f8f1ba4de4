// Simulated stock Antminer web CGI (lighttpd + Digest auth), one HTTP listener
// per miner on the miner's host, coupled to the power model: set_miner_conf with
// `miner-mode` 1 sleeps the miner, 0 (normal), 2 (high) or 3 (low power) wakes
// it into that mode, and get_miner_conf reports `bitmain-work-mode` from the
// model, whoever slept the miner. Low-power mode draws the model's low-power
// figure (sim/models.ts `lowPowerW`); a model without one refuses mode 3.
// get_blink_status / blink.cgi keep the locate LED (the site's LED board,
// sim/leds.ts; it blinks until stopped); reboot.cgi takes the unit
// down for `rebootMs` (its API and this CGI answer nothing meanwhile) and
// brings it back with a fresh uptime, in the mode it was in.
//
// Behaviours of real units it keeps:
// - Digest auth (RFC 7616, qop=auth) in realm "antMiner Configuration" on every
//   path, per-miner credentials (default root/root); MD5 unless told otherwise.
// - `bitmain-work-mode` is what get_miner_conf reports, as a string; writing it
//   to set_miner_conf answers M000 OK and changes nothing (asic-rs #245/#249).
// - set_miner_conf rewrites the whole config from the body: pools not sent are
//   gone afterwards.
// - The CGI is slow (about 21 s on real units): `setDelayMs`/`getDelayMs`
//   delay the answer; the change is applied when the delay ends, whether or not
//   the client is still waiting.
// - reboot.cgi may drop the connection instead of answering (asic-rs expects
//   that): `rebootReply: "drop"`.
// The error reply to an unusable body ({"stats":"error","code":"M001"…}), the
// blink.cgi reply ({"code":"B000"…}; one fleet tool checks for that code) and
// the reboot.cgi reply are the sim's own inventions; real firmware's wording
// was not available.
import { createHash, randomBytes } from "node:crypto";
import type http from "node:http";
import type { Logger } from "pino";
import { readBody, sendJson, sendText, simHttpServer } from "../http/server.ts";
import { bindListener, ListenerGroup, type Listening, type SimHandle, unbound } from "../listener.ts";
import type { PowerModel } from "../power-model.ts";

type SimDigestAlgorithm = "MD5" | "SHA-256";

/** How a unit treats the `miner-mode` value type: some firmware acts on strings only, some S21 builds on nothing. */
export type MinerModeQuirk = "any" | "string-only" | "number-only" | "ignored";

export interface AntminerWebSimMiner {
  id: string;
  host: string;
  /** 0 = a free port (read it back from `endpoints`). */
  port: number;
  username?: string;
  password?: string;
  minerMode?: MinerModeQuirk;
  /** reboot.cgi answers, then reboots ("answer", default), or drops the connection at once ("drop"). */
  rebootReply?: "answer" | "drop";
}

export interface AntminerWebSimOptions {
  miners: AntminerWebSimMiner[];
  model: PowerModel;
  logger?: Logger;
  /** Delay before set_miner_conf answers (and applies); default 0. */
  setDelayMs?: number;
  /** Delay before get_miner_conf answers; default 0. */
  getDelayMs?: number;
  /** Challenges offered, one WWW-Authenticate header each; default ["MD5"] like lighttpd on the units. */
  algorithms?: SimDigestAlgorithm[];
  realm?: string;
  /** How long a reboot keeps the unit down (default 300 ms). */
  rebootMs?: number;
}

interface AntminerWebRequestStats {
  /** Every HTTP request received. */
  requests: number;
  /** Requests answered 401 (no or bad credentials). */
  unauthorized: number;
  gets: number;
  sets: number;
  /** Bodies of the authenticated set_miner_conf requests, parsed. */
  setBodies: unknown[];
  /** Bodies of the authenticated blink.cgi requests, parsed. */
  blinkBodies: unknown[];
  reboots: number;
}

export interface AntminerWebSim extends SimHandle {
  /** The config get_miner_conf would return now. */
  conf(id: string): Record<string, unknown>;
  /** Whether the miner's locate LED blinks. */
  blink(id: string): boolean;
  stats(id: string): AntminerWebRequestStats;
}

const SIM_REALM = "antMiner Configuration";
const MAX_BODY = 64 * 1024;
const NONCE_TTL_MS = 300_000;

interface Pool {
  url: string;
  user: string;
  pass: string;
}

interface Entry extends Listening {
  username: string;
  password: string;
  quirk: MinerModeQuirk;
  /** The mode to report when the model says the miner is not asleep (0 normal, 2 high, 3 low). */
  awakeMode: number;
  rebootReply: "answer" | "drop";
  /** Down for a reboot: nothing answers. */
  rebooting: boolean;
  pools: Pool[];
  fanCtrl: boolean;
  fanPwm: string;
  freqLevel: string;
  nonces: Map<string, number>;
  stats: AntminerWebRequestStats;
}

const hash = (alg: SimDigestAlgorithm, s: string) =>
  createHash(alg === "SHA-256" ? "sha256" : "md5")
    .update(s, "utf8")
    .digest("hex");

/** Auth-params of an `Authorization: Digest …` header. */
function parseDigestHeader(h: string): Record<string, string> | null {
  const m = /^\s*Digest\s+(.*)$/is.exec(h);
  if (!m) return null;
  const out: Record<string, string> = {};
  const re = /([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g;
  for (let r = re.exec(m[1]!); r; r = re.exec(m[1]!)) {
    out[r[1]!.toLowerCase()] = r[2] !== undefined ? r[2].replace(/\\(.)/g, "$1") : (r[3] ?? "");
  }
  return out;
}

/** A JSON object body, else null. */
function parseBody(raw: string): Record<string, unknown> | null {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    return null;
  }
  return typeof body === "object" && body !== null && !Array.isArray(body)
    ? (body as Record<string, unknown>)
    : null;
}

export async function startAntminerWebSim(opts: AntminerWebSimOptions): Promise<AntminerWebSim> {
  const { model } = opts;
  // one miner's listener each, and the timers of delayed effects: stopped together
  const group = new ListenerGroup<Entry>({
    label: "antminer web sim",
    component: "sim-antminer-web",
    logger: opts.logger,
  });
  const { log } = group;
  const realm = opts.realm ?? SIM_REALM;
  const algorithms = opts.algorithms && opts.algorithms.length > 0 ? opts.algorithms : ["MD5" as const];
  const later = (ms: number, fn: () => void) => group.after(ms, fn);

  function workMode(e: Entry): number {
    const state = model.state(e.id);
    if (state === "sleeping") return 1;
    return e.awakeMode;
  }

  function confOf(e: Entry): Record<string, unknown> {
    return {
      pools: e.pools.map((p) => ({ ...p })),
      "api-listen": true,
      "api-network": true,
      "api-groups": "A:stats:pools:devs:summary:version",
      "api-allow": "A:0/0,W:*",
      "bitmain-fan-ctrl": e.fanCtrl,
      "bitmain-fan-pwm": e.fanPwm,
      "bitmain-use-vil": true,
      "bitmain-freq": "",
      "bitmain-voltage": "1360",
      "bitmain-ccdelay": "0",
      "bitmain-pwth": "0",
      "bitmain-work-mode": String(workMode(e)),
      "bitmain-freq-level": e.freqLevel,
    };
  }

  function challenge(e: Entry, res: http.ServerResponse, stale = false): void {
    const nonce = randomBytes(16).toString("hex");
    const now = Date.now();
    for (const [n, t] of e.nonces) if (now - t > NONCE_TTL_MS) e.nonces.delete(n);
    e.nonces.set(nonce, now);
    const headers = algorithms.map(
      (alg) =>
        `Digest realm="${realm}", charset=UTF-8, algorithm=${alg}, qop="auth", nonce="${nonce}"${
          stale ? ", stale=true" : ""
        }`,
    );
    e.stats.unauthorized++;
    res.writeHead(401, { "WWW-Authenticate": headers, "Content-Type": "text/html" });
    res.end("<html><body><h1>401 Unauthorized</h1></body></html>\n");
  }

  /** True when the request carries valid Digest credentials for this miner. */
  function authorized(e: Entry, req: http.IncomingMessage): "ok" | "bad" | "stale" {
    const h = req.headers.authorization;
    if (!h) return "bad";
    const p = parseDigestHeader(h);
    if (!p) return "bad";
    const alg = (p.algorithm ?? "MD5").toUpperCase() === "SHA-256" ? "SHA-256" : "MD5";
    if (!algorithms.includes(alg)) return "bad";
    if ((p.algorithm ?? "MD5").toUpperCase() !== alg) return "bad";
    if (p.username !== e.username || p.realm !== realm || p.uri !== req.url) return "bad";
    if (p.qop !== "auth" || !p.nc || !p.cnonce || !p.nonce || !p.response) return "bad";
    const ha1 = hash(alg, `${e.username}:${realm}:${e.password}`);
    const ha2 = hash(alg, `${req.method}:${p.uri}`);
    const expected = hash(alg, `${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:${p.qop}:${ha2}`);
    if (expected !== p.response.toLowerCase()) return "bad";
    return e.nonces.has(p.nonce) ? "ok" : "stale";
  }

  /** Applies a set_miner_conf body; returns the reply. */
  function applySet(e: Entry, raw: string): Record<string, string> {
    const b = parseBody(raw);
    if (!b) return { stats: "error", code: "M001", msg: "Invalid config" };
    e.stats.setBodies.push(b);
    // only `miner-mode` acts; a lone `bitmain-work-mode` is accepted and ignored
    const v = b["miner-mode"];
    const isString = typeof v === "string";
    const mode =
      v === undefined
        ? null
        : typeof v === "number"
          ? v
          : isString && /^\d+$/.test(v)
            ? Number(v)
            : Number.NaN;
    const lowW = model.minerView(e.id).model.lowPowerW;
    if (mode !== null && (![0, 1, 2, 3].includes(mode) || (mode === 3 && lowW === undefined)))
      return { stats: "error", code: "M001", msg: "Invalid miner-mode" };
    // the CGI rewrites the whole config from what it was sent
    e.pools = (Array.isArray(b.pools) ? b.pools : [])
      .filter((p): p is Record<string, unknown> => typeof p === "object" && p !== null)
      .map((p) => ({ url: String(p.url ?? ""), user: String(p.user ?? ""), pass: String(p.pass ?? "") }));
    e.fanCtrl = b["bitmain-fan-ctrl"] === true;
    e.fanPwm = b["bitmain-fan-pwm"] !== undefined ? String(b["bitmain-fan-pwm"]) : "100";
    e.freqLevel = b["freq-level"] !== undefined ? String(b["freq-level"]) : "100";
    if (mode === null) return { stats: "success", code: "M000", msg: "OK!" };
    const acts =
      e.quirk === "any" ||
      (e.quirk === "string-only" && isString) ||
      (e.quirk === "number-only" && !isString);
    if (!acts) return { stats: "success", code: "M000", msg: "OK!" };
    if (mode === 1) {
      model.sleep(e.id);
    } else {
      e.awakeMode = mode;
      // low-power mode draws the model's low-power figure; normal and high run at nameplate
      model.setPowerLimit(e.id, mode === 3 ? (lowW ?? null) : null);
      model.wake(e.id);
    }
    return { stats: "success", code: "M000", msg: "OK!" };
  }

  /** blink.cgi: {"blink": true|false}, the value a boolean or its string. */
  function applyBlink(e: Entry, raw: string): Record<string, string> {
    const b = parseBody(raw);
    if (!b) return { code: "B001", msg: "Invalid request" };
    e.stats.blinkBodies.push(b);
    const v = b.blink;
    const on = v === true || v === "true" ? true : v === false || v === "false" ? false : null;
    if (on === null) return { code: "B001", msg: "Invalid blink" };
    if (on) model.leds.on(e.id);
    else model.leds.off(e.id);
    return { code: "B000", msg: on ? "Blink started" : "Blink stopped" };
  }

  /** The unit goes down a moment after reboot.cgi, and comes back after rebootMs, in the mode it was in. */
  function reboot(e: Entry): void {
    e.stats.reboots++;
    later(50, () => {
      e.rebooting = true;
      model.leds.off(e.id);
      model.setFaulted(e.id, true);
      later(opts.rebootMs ?? 300, () => {
        e.rebooting = false;
        model.setFaulted(e.id, false);
      });
    });
  }

  function onRequest(e: Entry, req: http.IncomingMessage, res: http.ServerResponse): void {
    e.stats.requests++;
    readBody(req, { maxBytes: MAX_BODY, log, id: e.id }, (raw, tooLarge) => {
      // a unit rebooting has no web server: the connection drops
      if (e.rebooting) return void req.socket.destroy();
      const auth = authorized(e, req);
      if (auth !== "ok") return challenge(e, res, auth === "stale");
      if (tooLarge) return sendJson(res, 413, { stats: "error", code: "M001", msg: "Too large" });
      const path = (req.url ?? "").split("?")[0];
      if (path === "/cgi-bin/get_miner_conf.cgi" && req.method === "GET") {
        e.stats.gets++;
        later(opts.getDelayMs ?? 0, () => sendJson(res, 200, confOf(e)));
        return;
      }
      if (path === "/cgi-bin/set_miner_conf.cgi" && req.method === "POST") {
        e.stats.sets++;
        later(opts.setDelayMs ?? 0, () => {
          let reply: Record<string, string>;
          try {
            reply = applySet(e, raw);
          } catch (err) {
            log.debug({ miner: e.id, err }, "set failed");
            reply = { stats: "error", code: "M001", msg: "Internal error" };
          }
          sendJson(res, 200, reply);
        });
        return;
      }
      if (path === "/cgi-bin/get_blink_status.cgi" && req.method === "GET") {
        return sendJson(res, 200, { blink: model.leds.isOn(e.id) });
      }
      if (path === "/cgi-bin/blink.cgi" && req.method === "POST") {
        return sendJson(res, 200, applyBlink(e, raw));
      }
      if (path === "/cgi-bin/reboot.cgi" && req.method === "GET") {
        reboot(e);
        if (e.rebootReply === "drop") return void req.socket.destroy();
        return sendJson(res, 200, { code: "R000", msg: "Rebooting" });
      }
      sendText(res, 404, {
        text: "<html><body><h1>404 Not Found</h1></body></html>\n",
        headers: {
          "Content-Type": "text/html",
        },
      });
    });
  }

  function listen(e: Entry): Promise<void> {
    const server = simHttpServer(e, (req, res) => onRequest(e, req, res));
    return bindListener(e, server, { label: "antminer web sim:", log: log });
  }

  for (const m of opts.miners) {
    if (!model.hasMiner(m.id)) model.addMiner(m.id);
    group.add({
      id: m.id,
      host: m.host,
      port: m.port,
      username: m.username ?? "root",
      password: m.password ?? "root",
      quirk: m.minerMode ?? "any",
      awakeMode: 0,
      rebootReply: m.rebootReply ?? "answer",
      rebooting: false,
      pools: [
        { url: "stratum+tcp://pool.sim.invalid:3333", user: `wattkeeper.${m.id}`, pass: "x" },
        { url: "stratum+tcp://backup.sim.invalid:443", user: `wattkeeper.${m.id}`, pass: "x" },
      ],
      fanCtrl: false,
      fanPwm: "100",
      freqLevel: "100",
      nonces: new Map(),
      stats: { requests: 0, unauthorized: 0, gets: 0, sets: 0, setBodies: [], blinkBodies: [], reboots: 0 },
      ...unbound(),
    });
  }

  await group.bind(listen);
  return group.handle({
    conf: (id: string) => confOf(group.get(id)),
    blink: (id: string) => model.leds.isOn(group.get(id).id),
    stats: (id: string) => group.get(id).stats,
  });
}
