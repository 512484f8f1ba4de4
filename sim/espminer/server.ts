// Simulated ESP-Miner / AxeOS units (Bitaxe and kin): one HTTP listener per
// unit on its host, coupled to the power model. Pausing sleeps the unit in the
// model (its draw falls to the ESP32's and fan's few watts), resuming wakes it,
// restarting drops the unit off the network for `restartMs` and boots it again
// (uptime from 0, mining resumed: ESP-Miner boots unpaused); whoever slept the
// unit, the info reports it.
//
// Behaviours of the firmware it keeps, by version (`version`, default v2.14.0):
// - no login; `refuseClients` answers 401 "Unauthorized" to everything, as a
//   unit does for a client outside the private address ranges;
// - /api/system/pause and /resume exist from v2.14; before, an unknown /api
//   route answers 404 {"error":"unknown route"} (v2.13) or redirects to the
//   captive portal (302, older);
// - restart answers JSON {"message"} from v2.13, text/plain before, and v2.0
//   drops the connection without a reply;
// - identify (v2.12+): POST /api/system/identify toggles "Hi!" on the screen for
//   30 s (the firmware ends it), answering which way it went as JSON {"message"}
//   (text/plain in v2.12); the LED board (sim/leds.ts) holds it;
// - PATCH /api/system takes settings as JSON (frequency, coreVoltage,
//   hostname…): a known key of the wrong type is 400 "Wrong API input"; the
//   settings are stored and reported, not coupled to the model's power;
// - ESP32s answer slowly: `replyDelayMs` holds every reply.
import type http from "node:http";
import type { Logger } from "pino";
import { readBody, sendText, simHttpServer } from "../http/server.ts";
import { bindListener, ListenerGroup, type Listening, type SimHandle, unbound } from "../listener.ts";
import type { PowerModel } from "../power-model.ts";
import { type EspminerDrift, infoBody, simVersion, since, type UnitSettings } from "./info.ts";

/** How long AxeOS says "Hi!" after an identify (http_server.c: identify_mode_time_ms = 30000). */
const IDENTIFY_MS = 30_000;

export interface EspminerUnitOptions {
  /** Firmware version as the unit reports it; default "v2.14.0". */
  version?: string;
  /** Delay before every reply (ms); default 0. */
  replyDelayMs?: number;
  /** A reply shape no release sends (sim/espminer/info.ts). */
  drift?: EspminerDrift | null;
  /** How long a restart keeps the unit off the network (ms); default 1500. */
  restartMs?: number;
  /** Answer 401 to every request (a client outside the private ranges). */
  refuseClients?: boolean;
  asicModel?: string;
  boardVersion?: string;
}

interface EspminerSimMiner extends EspminerUnitOptions {
  id: string;
  host: string;
  /** 0 = a free port (read it back from `endpoints`). */
  port: number;
}

export interface EspminerSimOptions {
  miners: EspminerSimMiner[];
  model: PowerModel;
  logger?: Logger;
}

interface EspminerSimStats {
  requests: number;
  infos: number;
  pauses: number;
  resumes: number;
  restarts: number;
  patches: unknown[];
}

export interface EspminerSim extends SimHandle {
  /** Changes a unit's firmware behaviour while it runs (a firmware update, a slow Wi-Fi link). */
  configure(id: string, opts: EspminerUnitOptions): void;
  /** The info body the unit would send now. */
  info(id: string): Record<string, unknown>;
  stats(id: string): EspminerSimStats;
}

interface Entry extends Listening {
  unit: UnitSettings;
  replyDelayMs: number;
  restartMs: number;
  refuseClients: boolean;
  /** Restarting: connections are dropped until then. */
  downUntil: number;
  stats: EspminerSimStats;
}

const MAX_BODY = 16 * 1024;
const PAGE =
  "<!doctype html><html><head><title>AxeOS</title></head><body><app-root></app-root></body></html>\n";

export async function startEspminerSim(opts: EspminerSimOptions): Promise<EspminerSim> {
  const { model } = opts;
  // one miner's listener each, and the timers of delayed effects: stopped together
  const group = new ListenerGroup<Entry>({
    label: "espminer sim",
    component: "sim-espminer",
    logger: opts.logger,
  });
  const { log } = group;
  const later = (ms: number, fn: () => void) => group.after(ms, fn);

  // AxeOS answers every request with a permissive CORS header (its web UI is served elsewhere too)
  const send = (
    res: http.ServerResponse,
    status: number,
    { type, body, headers = {} }: { type: string; body: string; headers?: http.OutgoingHttpHeaders },
  ) =>
    sendText(res, status, {
      text: body,
      headers: { "Content-Type": type, "Access-Control-Allow-Origin": "*", ...headers },
    });
  const json = (res: http.ServerResponse, status: number, body: unknown) =>
    send(res, status, { type: "application/json", body: JSON.stringify(body) });

  function restart(e: Entry): void {
    // ESP-Miner boots unpaused: a paused unit comes back mining
    if (model.state(e.id) === "sleeping") model.wake(e.id);
    model.setFaulted(e.id, true);
    e.downUntil = Date.now() + e.restartMs;
    for (const s of e.sockets) s.destroy();
    later(e.restartMs, () => {
      e.downUntil = 0;
      model.setFaulted(e.id, false);
    });
  }

  /** PATCH /api/system: known keys must have their type; the rest is stored as sent. */
  function patch(e: Entry, raw: string): boolean {
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      return false;
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) return false;
    const b = body as Record<string, unknown>;
    for (const k of ["frequency", "coreVoltage"]) if (k in b && typeof b[k] !== "number") return false;
    if ("hostname" in b && typeof b.hostname !== "string") return false;
    e.stats.patches.push(b);
    if (typeof b.frequency === "number") e.unit.frequencyMhz = b.frequency;
    if (typeof b.coreVoltage === "number") e.unit.coreVoltageMv = b.coreVoltage;
    if (typeof b.hostname === "string") e.unit.hostname = b.hostname;
    return true;
  }

  /** Answers one request (`raw`: its body). */
  function route(
    e: Entry,
    { req, res, raw }: { req: http.IncomingMessage; res: http.ServerResponse; raw: string },
  ) {
    const v = simVersion(e.unit.version);
    const path = (req.url ?? "/").split("?")[0]!;
    const method = req.method ?? "GET";
    if (e.refuseClients) return send(res, 401, { type: "text/html", body: "Unauthorized" });
    if (path === "/api/system/info" && method === "GET") {
      e.stats.infos++;
      return json(res, 200, infoBody(e.unit, model.minerView(e.id)));
    }
    if (
      (path === "/api/system/pause" || path === "/api/system/resume") &&
      method === "POST" &&
      since(v, 2, 14)
    ) {
      if (path.endsWith("pause")) {
        e.stats.pauses++;
        model.sleep(e.id);
        return json(res, 200, { message: "Mining paused" });
      }
      e.stats.resumes++;
      model.wake(e.id);
      return json(res, 200, { message: "Mining resumed" });
    }
    if (path === "/api/system/restart" && method === "POST") {
      e.stats.restarts++;
      if (v.major === 2 && v.minor === 0) {
        // v2.0 restarts at once: the request gets no reply
        res.socket?.destroy();
        restart(e);
        return;
      }
      if (since(v, 2, 13)) json(res, 200, { message: "System will restart shortly." });
      else send(res, 200, { type: "text/plain", body: "System will restart shortly." });
      // the firmware waits a second for the reply to leave, then restarts
      later(Math.min(1000, e.restartMs), () => restart(e));
      return;
    }
    if (path === "/api/system/identify" && method === "POST" && since(v, 2, 12)) {
      let words: string;
      if (model.leds.isOn(e.id)) {
        model.leds.off(e.id);
        words = 'The device no longer says "Hi!".';
      } else {
        model.leds.on(e.id, IDENTIFY_MS);
        words = 'The device says "Hi!" for 30 seconds.';
      }
      if (since(v, 2, 13)) return json(res, 200, { message: words });
      return send(res, 200, { type: "text/plain", body: words });
    }
    if (path === "/api/system" && method === "PATCH") {
      if (!patch(e, raw)) return send(res, 400, { type: "text/html", body: "Wrong API input" });
      return send(res, 200, { type: "application/json", body: "" });
    }
    if (path.startsWith("/api/")) {
      if (since(v, 2, 13)) return json(res, 404, { error: "unknown route" });
      return send(res, 302, {
        type: "text/html",
        body: "Redirect to the captive portal",
        headers: { Location: "/" },
      });
    }
    if (method === "GET" && (path === "/" || path === "/index.html"))
      return send(res, 200, { type: "text/html", body: PAGE });
    send(res, 302, { type: "text/html", body: "Redirect to the captive portal", headers: { Location: "/" } });
  }

  function onRequest(e: Entry, req: http.IncomingMessage, res: http.ServerResponse): void {
    e.stats.requests++;
    readBody(req, { maxBytes: MAX_BODY, log, id: e.id }, (raw, tooLarge) => {
      if (tooLarge) return send(res, 500, { type: "text/html", body: "content too long" });
      later(e.replyDelayMs, () => {
        if (e.downUntil > 0) {
          res.socket?.destroy();
          return;
        }
        try {
          route(e, { req, res, raw });
        } catch (err) {
          log.debug({ miner: e.id, err }, "request failed");
          send(res, 500, { type: "text/html", body: "Internal error" });
        }
      });
    });
  }

  function listen(e: Entry): Promise<void> {
    // a restarting unit is off the network
    const server = simHttpServer(e, (req, res) => onRequest(e, req, res), { offline: () => e.downUntil > 0 });
    return bindListener(e, server, { label: "espminer sim:", log: log });
  }

  const apply = (e: Entry, o: EspminerUnitOptions) => {
    if (o.version !== undefined) e.unit.version = o.version;
    if (o.replyDelayMs !== undefined) e.replyDelayMs = o.replyDelayMs;
    if (o.drift !== undefined) e.unit.drift = o.drift;
    if (o.restartMs !== undefined) e.restartMs = o.restartMs;
    if (o.refuseClients !== undefined) e.refuseClients = o.refuseClients;
    if (o.asicModel !== undefined) e.unit.asicModel = o.asicModel;
    if (o.boardVersion !== undefined) e.unit.boardVersion = o.boardVersion;
  };

  for (const m of opts.miners) {
    if (!model.hasMiner(m.id)) model.addMiner(m.id, "bitaxe-gamma");
    const e: Entry = {
      id: m.id,
      host: m.host,
      port: m.port,
      unit: {
        id: m.id,
        version: "v2.14.0",
        asicModel: "BM1370",
        boardVersion: "601",
        hostname: `bitaxe-${m.id}`,
        frequencyMhz: 525,
        coreVoltageMv: 1150,
        stratumUrl: "pool.sim.invalid",
        stratumPort: 3333,
        stratumUser: `bc1qsim.${m.id}`,
        drift: null,
      },
      replyDelayMs: 0,
      restartMs: 1500,
      refuseClients: false,
      downUntil: 0,
      stats: { requests: 0, infos: 0, pauses: 0, resumes: 0, restarts: 0, patches: [] },
      ...unbound(),
    };
    apply(e, m);
    group.add(e);
  }

  await group.bind(listen);
  return group.handle({
    configure: (id: string, o: EspminerUnitOptions) => apply(group.get(id), o),
    info: (id: string) => infoBody(group.get(id).unit, model.minerView(id)),
    stats: (id: string) => group.get(id).stats,
  });
}
