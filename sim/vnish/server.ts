// Simulated VNish web API (`/api/v1/*`), one HTTP listener per miner on the
// miner's host, coupled to the power model: mining/pause and mining/stop sleep
// the miner, resume/start wake it, a preset sets its power limit, system/reboot
// restarts it (unreachable for a moment, uptime from zero, logins gone). What
// /status and /summary say comes from the model, whoever slept the miner.
//
// The wire follows the VNish 1.2.6 API reference (docs/research.md, VNish):
// POST /unlock {"pw"} → {"token"}; /summary, /autotune/presets, /settings and
// every write need `Authorization: Bearer <token>`; /info, /status and
// /perf-summary do not. Control POSTs answer an empty body, refusals
// {"err": …}. Quirks, per miner: the password, a token lifetime (an expired
// token gets 401), a reply delay, the firmware version, which power field the
// summary carries and whether the preset list comes wrapped (documented
// variants), numbers sent as strings (a drift no client knows), no presets
// with a wattage, and refusing presets above a wattage the way the firmware
// refuses anything: the usual reply, and nothing changes.
// POST /find-miner (login) toggles the locate LED and answers {"on"}; /status
// reports it as find_miner. It blinks until toggled again (not documented to end
// by itself).
import { randomBytes } from "node:crypto";
import type http from "node:http";
import type { Logger } from "pino";
import { readBody, sendJson, simHttpServer } from "../http/server.ts";
import { bindListener, ListenerGroup, type Listening, type SimHandle, unbound } from "../listener.ts";
import type { MinerView, PowerModel } from "../power-model.ts";
import { infoReply, summaryReply, vnishPresets } from "./replies.ts";

/** A site miner's VNish options (sim/site-web.ts): everything but where it listens and the model. */
export type VnishSiteSpec = Omit<VnishSimMiner, "id" | "host" | "port" | "model">;

export interface VnishSimMiner {
  id: string;
  host: string;
  /** 0 = a free port (read it back from `endpoints`). */
  port: number;
  model?: string;
  /** The unlock password; default "admin" (the factory one). */
  password?: string;
  /** How long a token stays valid; default 1 h. */
  tokenTtlMs?: number;
  /** Every reply this late (ms). */
  replyDelayMs?: number;
  /** fw_version; default "1.2.6". */
  version?: string;
  /** Which draw field /summary carries: both (1.2.6, default) or one of them. */
  powerField?: "both" | "power_consumption" | "power_usage";
  /** /autotune/presets wrapped as {presets: […]} instead of a bare list. */
  presetsWrapped?: boolean;
  /** Numbers in /summary sent as strings: a firmware whose fields changed type. */
  numbersAsStrings?: boolean;
  /** false: the only preset is "disabled" (no power steps). Default true. */
  presets?: boolean;
  /** Presets above this wattage are not applied (the settings write still answers as usual). */
  refuseTargetAboveW?: number | null;
}

interface VnishSimStats {
  requests: number;
  logins: number;
  /** Logins refused (wrong password). */
  refusedLogins: number;
  /** Requests answered 401 for want of a valid token. */
  unauthorized: number;
  /** Paths of the authenticated POSTs, in order. */
  posts: string[];
}

export interface VnishSim extends SimHandle {
  stats(id: string): VnishSimStats;
  /** The preset in force ("disabled" or a wattage name). */
  preset(id: string): string;
  /** Invalidates every token the miner handed out (as a restart of its web server does). */
  expireTokens(id: string): void;
  /** Changes a quirk at run time (tests: a firmware upgrade in place). */
  setQuirks(id: string, q: Partial<Omit<VnishSimMiner, "id" | "host" | "port" | "model">>): void;
}

const REBOOT_MS = 300;
const MAX_BODY = 64 * 1024;

interface Entry extends Listening {
  q: Required<Omit<VnishSimMiner, "id" | "host" | "port" | "model" | "refuseTargetAboveW">> & {
    refuseTargetAboveW: number | null;
  };
  tokens: Map<string, number>;
  preset: string;
  /** How the miner was put to sleep through this API (mining/pause or mining/stop). */
  sleptAs: "paused" | "stopped" | null;
  stats: VnishSimStats;
}

export async function startVnishSim(opts: {
  miners: VnishSimMiner[];
  model: PowerModel;
  logger?: Logger;
}): Promise<VnishSim> {
  const { model } = opts;
  // one miner's listener each, and the timers of delayed effects: stopped together
  const group = new ListenerGroup<Entry>({ label: "vnish sim", component: "sim-vnish", logger: opts.logger });
  const { log } = group;
  const later = (ms: number, fn: () => void) => group.later(ms, fn);

  function minerState(e: Entry, v: MinerView): string {
    if (v.state === "hashing") return "mining";
    if (v.state === "starting") return "starting";
    if (v.state === "sleeping") return e.sleptAs ?? "paused";
    return "failure";
  }

  /** Forgets how we slept it once the model says it is awake (woken by any path). */
  function view(e: Entry): MinerView {
    const v = model.minerView(e.id);
    if (v.state !== "sleeping") e.sleptAs = null;
    return v;
  }

  function summary(e: Entry): unknown {
    const v = view(e);
    return summaryReply(e.id, v, { state: minerState(e, v), quirks: e.q });
  }

  function info(e: Entry): unknown {
    return infoReply({ id: e.id, host: e.host }, model.minerView(e.id), e.q.version);
  }

  function presetsReply(e: Entry): unknown {
    const list = vnishPresets(model.minerView(e.id), e.q.presets);
    return e.q.presetsWrapped ? { presets: list } : list;
  }

  function currentPreset(e: Entry) {
    return vnishPresets(model.minerView(e.id), e.q.presets).find((p) => p.name === e.preset) ?? null;
  }

  function applySettings(e: Entry, body: unknown): void {
    const preset = (body as { miner?: { overclock?: { preset?: unknown } } } | null)?.miner?.overclock
      ?.preset;
    if (typeof preset !== "string") return;
    const found = vnishPresets(model.minerView(e.id), e.q.presets).find((p) => p.name === preset);
    if (!found) return;
    const watts = found.name === "disabled" ? null : Number(found.name);
    if (watts !== null && e.q.refuseTargetAboveW !== null && watts > e.q.refuseTargetAboveW) return;
    e.preset = found.name;
    model.setPowerLimit(e.id, watts);
  }

  function reboot(e: Entry): void {
    later(50, () => {
      e.tokens.clear();
      e.sleptAs = null;
      model.setFaulted(e.id, true);
      later(REBOOT_MS, () => model.setFaulted(e.id, false));
    });
  }

  /** Answers one authenticated or open request; returns [status, body] (body undefined = empty). */
  function route(
    e: Entry,
    { method, path, body }: { method: string; path: string; body: unknown },
    authed: boolean,
  ): [number, unknown] {
    const need = () => [401, { err: "Unauthorized" }] as [number, unknown];
    const key = `${method} ${path}`;
    switch (key) {
      case "POST /api/v1/unlock": {
        const pw = (body as { pw?: unknown } | null)?.pw;
        if (pw !== e.q.password) {
          e.stats.refusedLogins++;
          return [401, { err: "Wrong password" }];
        }
        e.stats.logins++;
        const token = randomBytes(16).toString("base64url");
        e.tokens.set(token, model.now() + e.q.tokenTtlMs);
        return [200, { token }];
      }
      case "GET /api/v1/info":
        return [200, info(e)];
      case "GET /api/v1/status": {
        const v = view(e);
        return [
          200,
          {
            miner_state: minerState(e, v),
            miner_state_time: 60,
            find_miner: model.leds.isOn(e.id),
            unlocked: false,
          },
        ];
      }
      case "GET /api/v1/perf-summary":
        return [200, { current_preset: currentPreset(e), preset_switcher: { enabled: false } }];
    }
    if (!authed) return need();
    if (method === "POST") e.stats.posts.push(path);
    switch (key) {
      case "POST /api/v1/find-miner":
        // a toggle (pyasic sends no body; a body is not read), answering the state it left;
        // the LED blinks until toggled again
        if (model.leds.isOn(e.id)) model.leds.off(e.id);
        else model.leds.on(e.id);
        return [200, { on: model.leds.isOn(e.id) }];
      case "GET /api/v1/summary":
        return [200, summary(e)];
      case "GET /api/v1/autotune/presets":
        return [200, presetsReply(e)];
      case "GET /api/v1/settings":
        return [200, { miner: { overclock: { preset: e.preset, globals: { freq: 675, volt: 1380 } } } }];
      case "POST /api/v1/settings":
        applySettings(e, body);
        return [200, { restart_required: false, reboot_required: false }];
      case "POST /api/v1/mining/pause":
      case "POST /api/v1/mining/stop": {
        if (model.state(e.id) === "sleeping") return [200, undefined];
        model.sleep(e.id);
        e.sleptAs = path.endsWith("pause") ? "paused" : "stopped";
        return [200, undefined];
      }
      case "POST /api/v1/mining/resume":
        if (model.state(e.id) === "sleeping" && e.sleptAs === "stopped")
          return [500, { err: "CGMiner err: Cgminer error failed-to-activate-resume-mode " }];
        model.wake(e.id);
        e.sleptAs = null;
        return [200, undefined];
      case "POST /api/v1/mining/start":
      case "POST /api/v1/mining/restart":
        model.wake(e.id);
        e.sleptAs = null;
        return [200, undefined];
      case "POST /api/v1/system/reboot":
        reboot(e);
        return [200, {}];
    }
    return [404, { err: "Not found" }];
  }

  function onRequest(e: Entry, req: http.IncomingMessage, res: http.ServerResponse): void {
    e.stats.requests++;
    // the body is cut at MAX_BODY: what is kept no longer parses, a 400
    readBody(req, { maxBytes: MAX_BODY, log, id: e.id }, (whole) => {
      // a unit rebooting answers nothing
      if (model.state(e.id) === "faulted") return void req.socket.destroy();
      const path = (req.url ?? "").split("?")[0] ?? "";
      if (path === "/" && req.method === "GET") {
        res.writeHead(200, { "Content-Type": "text/html" });
        return void res.end("<!doctype html><html><head><title>AnthillOS</title></head><body></body></html>");
      }
      let body: unknown = null;
      const raw = whole.trim();
      if (raw !== "") {
        try {
          body = JSON.parse(raw);
        } catch {
          return sendJson(res, 400, { err: "Invalid JSON" });
        }
      }
      const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "");
      const expires = m ? e.tokens.get(m[1]!) : undefined;
      const authed = expires !== undefined && expires > model.now();
      let status: number;
      let reply: unknown;
      try {
        [status, reply] = route(e, { method: req.method ?? "GET", path, body }, authed);
      } catch (err) {
        log.debug({ miner: e.id, err }, "request failed");
        [status, reply] = [500, { err: "Internal error" }];
      }
      if (status === 401 && !path.endsWith("/unlock")) e.stats.unauthorized++;
      const answer = () => sendJson(res, status, reply);
      group.after(e.q.replyDelayMs, answer);
    });
  }

  for (const m of opts.miners) {
    if (!model.hasMiner(m.id)) model.addMiner(m.id, m.model);
    group.add({
      id: m.id,
      host: m.host,
      port: m.port,
      q: {
        password: m.password ?? "admin",
        tokenTtlMs: m.tokenTtlMs ?? 3_600_000,
        replyDelayMs: m.replyDelayMs ?? 0,
        version: m.version ?? "1.2.6",
        powerField: m.powerField ?? "both",
        presetsWrapped: m.presetsWrapped ?? false,
        numbersAsStrings: m.numbersAsStrings ?? false,
        presets: m.presets ?? true,
        refuseTargetAboveW: m.refuseTargetAboveW ?? null,
      },
      tokens: new Map(),
      preset: "disabled",
      sleptAs: null,
      stats: { requests: 0, logins: 0, refusedLogins: 0, unauthorized: 0, posts: [] },
      ...unbound(),
    });
  }

  function listen(e: Entry): Promise<void> {
    const server = simHttpServer(e, (req, res) => onRequest(e, req, res));
    return bindListener(e, server, { label: "vnish sim:", log: log });
  }

  await group.bind(listen);
  return group.handle({
    stats: (id: string) => group.get(id).stats,
    preset: (id: string) => group.get(id).preset,
    expireTokens: (id: string) => group.get(id).tokens.clear(),
    setQuirks(id: string, q: Partial<Omit<VnishSimMiner, "id" | "host" | "port" | "model">>) {
      const e = group.get(id);
      const refuse = "refuseTargetAboveW" in q ? (q.refuseTargetAboveW ?? null) : e.q.refuseTargetAboveW;
      e.q = { ...e.q, ...q, refuseTargetAboveW: refuse };
    },
  });
}
