// Simulated Auradine FluxOS web API (HTTP, default port 8080), one listener per
// miner on the miner's host, coupled to the power model: `POST /mode` with
// sleep on/off sleeps and wakes the miner, a custom power target sets its
// limit, `POST /restart` reboots it; every read reports the model's state,
// whoever changed it. Replies are built in replies.ts.
//
// Behaviours kept from real units (docs/research.md §2, Auradine FluxOS):
// - `POST /token` {"command":"token","user","password"} → Token[0].Token; every
//   other request needs it in a `Token` header. A missing, unknown or expired
//   token is answered HTTP 401 with STATUS E (the sim's wording).
// - A reboot drops every token and the web server: requests are cut off
//   unanswered while the unit is down.
// Quirks as options: credentials, token lifetime, a reply delay, the reply
// shape (replies.ts: current, older, drifted), the PSU's rated output and a
// ceiling above which power targets are refused (Braiins 24.02 refused
// target increases; the selftest finds such a unit).
import { randomBytes } from "node:crypto";
import type http from "node:http";
import type { Logger } from "pino";
import { auradineModelNames } from "../cgminer/dialects/auradine.ts";
import { readBody, sendJson, simHttpServer } from "../http/server.ts";
import { bindListener, ListenerGroup, type Listening, type SimHandle, unbound } from "../listener.ts";
import type { PowerModel } from "../power-model.ts";
import * as R from "./replies.ts";

interface AuradineQuirks {
  username: string;
  password: string;
  /** How long a token lives (ms of the model's clock); default 30 min (the real lifetime is not documented). */
  tokenTtlMs: number;
  /** Every request answered this late (ms), login included. */
  replyDelayMs: number;
  shape: R.FluxShape;
  version: string;
  modelName: string;
  /** PSU PoutMax (W); null = not reported. Default: the unit's nominal draw + 10 %. */
  maxPowerW: number | null;
  /** Power targets above this are refused with STATUS E; null = none refused. */
  refuseTargetAboveW: number | null;
}

/** A site miner's FluxOS web API quirks (sim/site-web.ts). */
export type AuradineSiteSpec = Partial<AuradineQuirks>;

interface AuradineSimMiner extends Partial<AuradineQuirks> {
  id: string;
  host: string;
  /** 0 = a free port (read it back from `endpoints`). */
  port: number;
}

export interface AuradineSimOptions {
  miners: AuradineSimMiner[];
  model: PowerModel;
  logger?: Logger;
  /** How long a reboot keeps the unit down (ms); default 300. */
  rebootMs?: number;
}

interface AuradineSimStats {
  requests: number;
  logins: number;
  failedLogins: number;
  /** Requests answered 401 for want of a valid token. */
  unauthorized: number;
  /** Bodies of the accepted POSTs other than /token, with their path. */
  writes: Array<{ path: string; body: Record<string, unknown> }>;
}

export interface AuradineSim extends SimHandle {
  stats(id: string): AuradineSimStats;
  /** Changes quirks at run time (a firmware upgrade, a password change). */
  configure(id: string, quirks: Partial<AuradineQuirks>): void;
  /** Expires every token of a miner now, as a restart of the web server does. */
  expireTokens(id: string): void;
}

interface Entry extends Listening {
  q: AuradineQuirks;
  ledCode: number;
  tokens: Map<string, number>;
  stats: AuradineSimStats;
}

const MAX_BODY = 16 * 1024;

export async function startAuradineSim(opts: AuradineSimOptions): Promise<AuradineSim> {
  const { model } = opts;
  // one miner's listener each, and the timers of delayed effects: stopped together
  const group = new ListenerGroup<Entry>({
    label: "auradine sim",
    component: "sim-auradine",
    logger: opts.logger,
  });
  const { log } = group;
  const rebootMs = opts.rebootMs ?? 300;
  const later = (ms: number, fn: () => void) => group.later(ms, fn);
  const when = () => Math.floor(model.now() / 1000);
  const unit = (e: Entry): R.FluxUnit => ({
    shape: e.q.shape,
    version: e.q.version,
    modelName: e.q.modelName,
    maxPowerW: e.q.maxPowerW,
    // code 3 (locate) is the LED board's; other codes are what was set last
    ledCode: model.leds.isOn(e.id) ? 3 : e.ledCode === 3 ? 2 : e.ledCode,
  });
  const error = (e: Entry, code: number, msg: string) =>
    R.envelope(unit(e), when(), { letter: "E", code: code, msg: msg });
  const ok = (e: Entry, code: number, msg: string) =>
    R.envelope(unit(e), when(), { letter: "S", code: code, msg: msg });

  function reboot(e: Entry): void {
    e.tokens.clear();
    // down after the reply has left, back after rebootMs (booted afresh: uptime from 0)
    later(50, () => {
      model.setFaulted(e.id, true);
      later(rebootMs, () => model.setFaulted(e.id, false));
    });
  }

  function login(e: Entry, body: Record<string, unknown>): [number, unknown] {
    if (body.user !== e.q.username || body.password !== e.q.password) {
      e.stats.failedLogins++;
      return [401, error(e, 401, "Invalid user or password")];
    }
    e.stats.logins++;
    const token = randomBytes(16).toString("hex");
    const now = model.now();
    for (const [t, exp] of e.tokens) if (exp <= now) e.tokens.delete(t);
    e.tokens.set(token, now + e.q.tokenTtlMs);
    return [200, { ...ok(e, 600, "Token"), Token: [{ Token: token }] }];
  }

  function setMode(e: Entry, body: Record<string, unknown>): [number, unknown] {
    if (body.sleep === "on" || body.sleep === "off") {
      if (body.sleep === "on") model.sleep(e.id);
      else model.wake(e.id);
      return [200, ok(e, 541, `Sleep mode ${body.sleep}`)];
    }
    if (body.mode === "custom" && body.tune === "power") {
      const w = body.power;
      if (typeof w !== "number" || !Number.isFinite(w) || w <= 0) {
        return [200, error(e, 542, "Invalid power target")];
      }
      if (e.q.refuseTargetAboveW !== null && w > e.q.refuseTargetAboveW) {
        return [200, error(e, 543, `Power target ${w} W refused: above ${e.q.refuseTargetAboveW} W`)];
      }
      if (e.q.maxPowerW !== null && w > e.q.maxPowerW) {
        return [200, error(e, 543, `Power target ${w} W out of range (max ${e.q.maxPowerW} W)`)];
      }
      model.setPowerLimit(e.id, w);
      return [200, ok(e, 541, `Operating mode: 'custom', power: ${w}`)];
    }
    if (body.mode === "normal") {
      model.setPowerLimit(e.id, null);
      return [200, ok(e, 541, "Operating mode: 'normal'")];
    }
    return [200, error(e, 542, "Invalid mode parameters")];
  }

  function route(
    e: Entry,
    { method, path, body }: { method: string; path: string; body: Record<string, unknown> },
  ): [number, unknown] {
    const v = model.minerView(e.id);
    const t = when();
    const u = unit(e);
    if (method === "GET") {
      switch (path) {
        case "/mode":
          return [200, R.modeReply(u, v, t)];
        case "/psu":
          return [200, R.psuReply(u, v, t)];
        case "/ipreport":
          return [200, R.ipReport(u, e, t)];
        case "/fan":
          return [200, R.fanReply(u, v, t)];
        case "/temperature":
          return [200, R.temperatureReply(u, v, t)];
        case "/led":
          return [200, R.ledReply(u, t)];
      }
      return [404, error(e, 404, `Unknown command '${path.slice(1)}'`)];
    }
    if (method !== "POST") return [405, error(e, 405, "Method not allowed")];
    switch (path) {
      case "/mode": {
        const out = setMode(e, body);
        if (out[0] === 200) e.stats.writes.push({ path, body });
        return out;
      }
      case "/restart":
        e.stats.writes.push({ path, body });
        reboot(e);
        return [200, ok(e, 550, "Restarting miner")];
      case "/led": {
        const code = body.code;
        if (typeof code !== "number") return [200, error(e, 531, "Invalid LED code")];
        e.stats.writes.push({ path, body });
        e.ledCode = code;
        // 3 locates the unit until another code is set (pyasic AuradineLEDCodes)
        if (code === 3) model.leds.on(e.id);
        else model.leds.off(e.id);
        return [200, ok(e, 530, `LED code ${code}`)];
      }
    }
    return [404, error(e, 404, `Unknown command '${path.slice(1)}'`)];
  }

  function answer(e: Entry, req: http.IncomingMessage, raw: string): [number, unknown] {
    let body: Record<string, unknown> = {};
    if (raw.trim() !== "") {
      try {
        const parsed: unknown = JSON.parse(raw);
        if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
          throw new Error("not an object");
        body = parsed as Record<string, unknown>;
      } catch {
        return [400, error(e, 400, "Invalid JSON")];
      }
    }
    const method = req.method ?? "GET";
    const path = (req.url ?? "/").split("?")[0]!;
    if (path === "/token" && method === "POST") return login(e, body);
    const token = req.headers.token;
    const expires = typeof token === "string" ? e.tokens.get(token) : undefined;
    if (expires === undefined || expires <= model.now()) {
      if (typeof token === "string") e.tokens.delete(token);
      e.stats.unauthorized++;
      return [401, error(e, 401, "Invalid or expired token")];
    }
    return route(e, { method, path, body });
  }

  function onRequest(e: Entry, req: http.IncomingMessage, res: http.ServerResponse): void {
    e.stats.requests++;
    readBody(req, { maxBytes: MAX_BODY, log, id: e.id }, (raw, tooLarge) => {
      const reply = () => {
        // a rebooting (or faulted) unit has no web server: the request is cut off unanswered
        if (model.state(e.id) === "faulted") return void req.socket.destroy();
        if (res.destroyed || res.writableEnded) return; // the client gave up: the command never ran
        let status: number;
        let json: unknown;
        try {
          [status, json] = tooLarge ? [413, error(e, 413, "Too large")] : answer(e, req, raw);
        } catch (err) {
          log.debug({ miner: e.id, err }, "request failed");
          [status, json] = [500, error(e, 500, "Internal error")];
        }
        sendJson(res, status, json);
      };
      group.after(e.q.replyDelayMs, reply);
    });
  }

  function listen(e: Entry): Promise<void> {
    const server = simHttpServer(e, (req, res) => onRequest(e, req, res));
    return bindListener(e, server, { label: "auradine sim:", log: log });
  }

  for (const m of opts.miners) {
    if (!model.hasMiner(m.id)) model.addMiner(m.id);
    const nominalW = model.minerView(m.id).model.nominalW;
    const q: AuradineQuirks = {
      username: m.username ?? "admin",
      password: m.password ?? "admin",
      tokenTtlMs: m.tokenTtlMs ?? 30 * 60_000,
      replyDelayMs: m.replyDelayMs ?? 0,
      shape: m.shape ?? "current",
      version: m.version ?? "2024-06.11",
      modelName: m.modelName ?? "AT2880",
      maxPowerW: m.maxPowerW === undefined ? Math.round(nominalW * 1.1) : m.maxPowerW,
      refuseTargetAboveW: m.refuseTargetAboveW ?? null,
    };
    auradineModelNames.set(m.id, q.modelName);
    group.add({
      id: m.id,
      host: m.host,
      port: m.port,
      q,
      ledCode: 2,
      tokens: new Map(),
      stats: { requests: 0, logins: 0, failedLogins: 0, unauthorized: 0, writes: [] },
      ...unbound(),
    });
  }

  await group.bind(listen);
  return group.handle({
    stats: (id: string) => group.get(id).stats,
    configure(id: string, quirks: Partial<AuradineQuirks>) {
      const e = group.get(id);
      e.q = { ...e.q, ...quirks };
      auradineModelNames.set(id, e.q.modelName);
    },
    expireTokens: (id: string) => group.get(id).tokens.clear(),
  });
}
