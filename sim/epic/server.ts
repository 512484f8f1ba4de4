// Simulated ePIC UMC units: one HTTP listener per miner on its API port (4028
// by default; 0 = a free port, read back from `endpoints`), coupled to the
// power model. POST /miner "Stop" sleeps the miner, "Autostart" wakes it,
// /perpetualtune/algo with the "Power" algorithm sets its power limit, /reboot
// restarts it; GET /summary reads the model, whoever slept or limited it.
//
// Behaviours of real units it keeps (ePIC OpenAPI 1.22.5 / 1.30.0):
// - every POST carries the password in its JSON body; a wrong one answers
//   HTTP 200 {"result": false, "error": "BadPassword"} (1.22: {"BadPassword":
//   "Authentication failed"}); POST /authenticate checks it (1.30 only).
// - the CGMiner API is not there: a CGMiner JSON request (`{"command":…}` raw
//   over TCP) meets an HTTP server. What a hyper/actix server does with it is
//   answer `400 Bad Request` and close ("bad-request", the default); "silent"
//   holds the connection without a word, "close" drops it.
// The sim's own inventions, where the firmware's wording is not known: the
// errors for a power target outside the unit's range, for a power target on a
// unit without the "Power" tuner, and for `refuseTargetAboveW` (all
// {"result": false, "error": {"UnknownError": "…"}}); bodies the firmware
// cannot deserialise answer 422 with a text line, as the web framework would.
import type http from "node:http";
import type { Logger } from "pino";
import { readBody, sendJson, sendText, simHttpServer } from "../http/server.ts";
import { bindListener, ListenerGroup, type Listening, type SimHandle, unbound } from "../listener.ts";
import type { PowerModel } from "../power-model.ts";
import {
  capabilitiesBody,
  chipTempsBody,
  type EpicFirmware,
  epicError,
  epicErrorWithText,
  powerRange,
  summaryBody,
  type UnitState,
} from "./replies.ts";

type CgminerRequestReply = "bad-request" | "silent" | "close";

/** Behaviours that can change while the sim runs (tests, selftest). */
interface EpicQuirks {
  /** The web password (default "letmein", ePIC's factory default). */
  password: string;
  /** Every answer this late (ms). */
  replyDelayMs: number;
  /** Which firmware's reply shapes (default "1.30"). */
  firmware: EpicFirmware;
  /** Whether the tuner offers the "Power" algorithm (default true). */
  powerTuning: boolean;
  /** Power targets above this (W) are refused; null = none (the Braiins 24.02 kind of unit, for selftest). */
  refuseTargetAboveW: number | null;
  /** What a CGMiner JSON request gets (default "bad-request"). */
  cgminerRequest: CgminerRequestReply;
  /** How long a reboot keeps the unit down (default 300 ms). */
  rebootMs: number;
}

/** Per-miner options of the site config: password, reply delay, firmware variant… */
export type EpicSiteSpec = Omit<EpicSimMiner, "id" | "host" | "port" | "model">;

export interface EpicSimMiner extends Partial<EpicQuirks> {
  id: string;
  host: string;
  port: number;
  /** Model key (sim/models.ts), used when the miner is not yet in the power model. */
  model?: string;
  /** `Software` (default "PowerPlay-BMS v1.5.13"). */
  software?: string;
}

interface EpicRequestStats {
  requests: number;
  /** Requests by "METHOD /path". */
  byPath: Record<string, number>;
  /** Parsed bodies of the POSTs, in order. */
  posts: Array<{ path: string; body: unknown }>;
  /** Connections that sent something other than HTTP (a CGMiner request). */
  notHttp: number;
}

export interface EpicSim extends SimHandle {
  stats(id: string): EpicRequestStats;
  setQuirks(id: string, quirks: Partial<EpicQuirks>): void;
}

interface Entry extends Listening {
  quirks: EpicQuirks;
  unit: UnitState;
  stats: EpicRequestStats;
}

const MAX_BODY = 64 * 1024;
const DEFAULT_SOFTWARE = "PowerPlay-BMS v1.5.13";

export async function startEpicSim(opts: {
  miners: EpicSimMiner[];
  model: PowerModel;
  logger?: Logger;
}): Promise<EpicSim> {
  const { model } = opts;
  // one miner's listener each, and the timers of delayed effects: stopped together
  const group = new ListenerGroup<Entry>({ label: "epic sim", component: "sim-epic", logger: opts.logger });
  const { log } = group;
  const later = (ms: number, fn: () => void) => group.later(ms, fn);

  // UMC answers errors as plain text, results as JSON
  const send = (res: http.ServerResponse, status: number, body: unknown) =>
    typeof body === "string" ? sendText(res, status, { text: body }) : sendJson(res, status, body);

  const ok = { result: true, error: null };
  const fail = (error: unknown) => ({ result: false, error });

  function reboot(e: Entry, delayS: number): void {
    later(delayS * 1000, () => {
      model.setFaulted(e.id, true);
      later(e.quirks.rebootMs, () => model.setFaulted(e.id, false));
    });
  }

  /** A POST whose body deserialised and whose password is right. */
  function command(e: Entry, path: string, param: unknown): { status: number; body: unknown } {
    switch (path) {
      case "/authenticate":
        return { status: 200, body: ok };
      case "/miner": {
        if (param !== "Stop" && param !== "Autostart") {
          return {
            status: 422,
            body: "Json deserialize error: unknown variant, expected `Stop` or `Autostart`",
          };
        }
        if (param === "Stop") model.sleep(e.id);
        else model.wake(e.id);
        e.unit.lastCommand = param;
        e.unit.lastCommandResult = "Ok";
        return { status: 200, body: ok };
      }
      case "/identify":
        // the locate LED on (true) or off (false), until told (UMC OpenAPI: "Turn the LED on")
        if (typeof param !== "boolean") {
          return { status: 422, body: "Json deserialize error: param: expected a boolean" };
        }
        if (param) model.leds.on(e.id);
        else model.leds.off(e.id);
        return { status: 200, body: ok };
      case "/reboot": {
        if (typeof param !== "number" || !Number.isInteger(param) || param < 0) {
          return { status: 422, body: "Json deserialize error: param: expected u64" };
        }
        reboot(e, param);
        return { status: 200, body: ok };
      }
      case "/perpetualtune/algo": {
        const p = param as { algo?: unknown; target?: unknown } | null;
        const algos = ["ChipTune", "VoltageOptimizer", "Power", "BoardTune"];
        if (!p || typeof p !== "object" || typeof p.algo !== "string" || !algos.includes(p.algo)) {
          return { status: 422, body: "Json deserialize error: param.algo: unknown variant" };
        }
        if (typeof p.target !== "number" || !Number.isInteger(p.target) || p.target < 0) {
          return { status: 422, body: "Json deserialize error: param.target: expected u32" };
        }
        if (p.algo !== "Power") {
          e.unit.hashrateTune = { algo: p.algo as UnitState["hashrateTune"]["algo"], targetThs: p.target };
          model.setPowerLimit(e.id, null);
          return { status: 200, body: ok };
        }
        if (!e.quirks.powerTuning) {
          return {
            status: 200,
            body: fail(epicErrorWithText("UnknownError", "Power tuning is not supported")),
          };
        }
        const cap = e.quirks.refuseTargetAboveW;
        if (cap !== null && p.target > cap) {
          return {
            status: 200,
            body: fail(epicErrorWithText("UnknownError", `power target above ${cap} W refused`)),
          };
        }
        const range = powerRange(model.minerView(e.id));
        if (p.target < range.min || p.target > range.max) {
          return {
            status: 200,
            body: fail(epicErrorWithText("UnknownError", `target out of range ${range.min}-${range.max}`)),
          };
        }
        model.setPowerLimit(e.id, p.target);
        return { status: 200, body: ok };
      }
      default:
        return { status: 404, body: "" };
    }
  }

  function onPost(e: Entry, path: string, raw: string): { status: number; body: unknown } {
    if (path === "/authenticate" && e.quirks.firmware === "1.22") return { status: 404, body: "" };
    const known = ["/authenticate", "/miner", "/reboot", "/perpetualtune/algo", "/identify"];
    if (!known.includes(path)) return { status: 404, body: "" };
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      return { status: 400, body: "Json deserialize error: expected value at line 1 column 1" };
    }
    e.stats.posts.push({ path, body });
    const b = body as { param?: unknown; password?: unknown } | null;
    if (!b || typeof b !== "object" || typeof b.password !== "string" || !("param" in b)) {
      return { status: 422, body: "Json deserialize error: missing field `password` or `param`" };
    }
    if (b.password !== e.quirks.password) {
      return { status: 200, body: fail(epicError(e.quirks.firmware, "BadPassword")) };
    }
    return command(e, path, b.param);
  }

  function onGet(e: Entry, path: string): { status: number; body: unknown } {
    const view = model.minerView(e.id);
    switch (path) {
      case "/summary":
        return {
          status: 200,
          body: summaryBody(e.unit, view, { nowMs: model.now(), locating: model.leds.isOn(e.id) }),
        };
      case "/capabilities":
        return { status: 200, body: capabilitiesBody(e.unit, view) };
      case "/temps/chip":
        return { status: 200, body: chipTempsBody(view) };
      default:
        return { status: 404, body: "" };
    }
  }

  function onRequest(e: Entry, req: http.IncomingMessage, res: http.ServerResponse): void {
    e.stats.requests++;
    const path = (req.url ?? "/").split("?")[0]!.replace(/\/+$/, "") || "/";
    const key = `${req.method} ${path}`;
    e.stats.byPath[key] = (e.stats.byPath[key] ?? 0) + 1;
    readBody(req, { maxBytes: MAX_BODY, log, id: e.id }, (raw, tooLarge) => {
      const answer = () => {
        if (tooLarge) return send(res, 413, "Payload Too Large");
        let out: { status: number; body: unknown };
        try {
          if (req.method === "GET") out = onGet(e, path);
          else if (req.method === "POST") out = onPost(e, path, raw);
          else out = { status: 405, body: "Method Not Allowed" };
        } catch (err) {
          // a miner removed from the model mid-flight: behave like a crashed server
          log.debug({ miner: e.id, err }, "request failed");
          res.destroy();
          return;
        }
        send(res, out.status, out.body);
      };
      group.after(e.quirks.replyDelayMs, answer);
    });
  }

  function listen(e: Entry): Promise<void> {
    // a unit that is rebooting (or faulted) has no web server: the connection drops
    const server = simHttpServer(e, (req, res) => onRequest(e, req, res), {
      offline: () => model.state(e.id) === "faulted",
    });
    // not HTTP at all: a CGMiner API request (`{"command":"version"}`) reaching the web server
    server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
      // a reset or a timeout is not a request: only what the HTTP parser rejected
      if (!err.code?.startsWith("HPE_")) {
        socket.destroy();
        return;
      }
      e.stats.notHttp++;
      switch (e.quirks.cgminerRequest) {
        case "silent":
          // hold it: the client gives up on its own deadline (the socket closes with the listener)
          return;
        case "close":
          socket.destroy();
          return;
        default:
          if (socket.writable)
            socket.end("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
          else socket.destroy();
      }
    });
    return bindListener(e, server, { label: "epic sim: miner", log: log });
  }

  for (const m of opts.miners) {
    if (!model.hasMiner(m.id)) model.addMiner(m.id, m.model);
    const firmware = m.firmware ?? "1.30";
    const view = model.minerView(m.id);
    group.add({
      id: m.id,
      host: m.host,
      port: m.port,
      quirks: {
        password: m.password ?? "letmein",
        replyDelayMs: m.replyDelayMs ?? 0,
        firmware,
        powerTuning: m.powerTuning ?? true,
        refuseTargetAboveW: m.refuseTargetAboveW ?? null,
        cgminerRequest: m.cgminerRequest ?? "bad-request",
        rebootMs: m.rebootMs ?? 300,
      },
      unit: {
        firmware,
        software: m.software ?? DEFAULT_SOFTWARE,
        hostname: `epic-${m.id}`,
        powerTuning: m.powerTuning ?? true,
        hashrateTune: { algo: "VoltageOptimizer", targetThs: Math.round(view.model.nominalThs) },
        pools: [{ pool: "stratum+tcp://pool.sim.invalid:3333", login: `wattkeeper.${m.id}`, password: "x" }],
        lastCommand: null,
        lastCommandResult: null,
      },
      stats: { requests: 0, byPath: {}, posts: [], notHttp: 0 },
      ...unbound(),
    });
  }

  await group.bind(listen);
  return group.handle({
    stats: (id: string) => group.get(id).stats,
    setQuirks(id: string, quirks: Partial<EpicQuirks>) {
      const e = group.get(id);
      Object.assign(e.quirks, quirks);
      e.unit.firmware = e.quirks.firmware;
      e.unit.powerTuning = e.quirks.powerTuning;
    },
  });
}
