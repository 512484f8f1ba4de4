// Simulated Proto rigs: the MDK API (REST/JSON, OpenAPI 1.8) on one HTTP (or
// HTTPS, self-signed) listener per rig, coupled to the power model: stopping
// mining sleeps the miner in the model, a power target caps its draw, a reboot
// drops the rig off the network for a moment and comes back with a fresh uptime.
//
// Wire behaviour kept from the spec: POST /api/v1/auth/login {password} →
// {access_token, refresh_token} (HS256 JWTs with `exp`); protected endpoints
// answer 401 {message} without a valid bearer; /api/v1/system is public;
// mining start/stop and reboot answer 202 Accepted; PUT /api/v1/mining/target
// answers 422 outside [power_target_min_watts, power_target_max_watts];
// POST /api/v1/system/locate?led_on_time=<s>&enable=<bool> (202) flashes the
// control board's LED for led_on_time seconds (0, the default: until an
// enable=false), and the rig ends it by itself; nothing reads the LED back.
// Quirks (options, changeable with setQuirks): password, token TTL, reply
// delay, a drifted firmware (a field that changes type, an object renamed, a
// login reply of another shape), and refuseTargetAboveW (targets above it
// refused with 422: a firmware that cannot raise its target).
import type http from "node:http";
import type { Logger } from "pino";
import { readBody, sendJson, simHttpServer } from "../http/server.ts";
import { bindListener, ListenerGroup, type Listening, type SimHandle, unbound } from "../listener.ts";
import type { PowerModel } from "../power-model.ts";
import { newJti, newSecret, signJwt, verifyJwt } from "./jwt.ts";
import {
  cooling,
  miningStatus,
  PROTO_SIM_PASSWORD,
  type ProtoQuirks,
  pools,
  systemInfo,
  target,
  telemetry,
} from "./replies.ts";
import { SIM_TLS_CERT, SIM_TLS_KEY } from "./tls.ts";

export {
  PROTO_SIM_DEFAULT_PORT,
  PROTO_SIM_PASSWORD,
} from "./replies.ts";

/** A site miner's Proto options (sim/site-web.ts): everything but where it listens. */
export type ProtoSiteSpec = Omit<ProtoSimMiner, "id" | "host" | "port">;

export interface ProtoSimMiner extends Partial<ProtoQuirks> {
  id: string;
  host: string;
  /** 0 = a free port (read it back from `endpoints`). */
  port: number;
  /** Serve HTTPS with the sim's self-signed certificate. */
  tls?: boolean;
}

interface ProtoRigStats {
  requests: number;
  logins: number;
  /** Requests answered 401 (bad password or token). */
  unauthorized: number;
  /** Method and path of every request, in order. */
  calls: string[];
}

export interface ProtoSim extends SimHandle {
  stats(id: string): ProtoRigStats;
  setQuirks(id: string, quirks: Partial<ProtoQuirks>): void;
  /** Invalidates every token issued so far (as a new signing key after a firmware update). */
  revokeTokens(id: string): void;
}

interface Rig extends Listening {
  tls: boolean;
  q: ProtoQuirks;
  secret: Buffer;
  stats: ProtoRigStats;
}

const MAX_BODY = 64 * 1024;

export async function startProtoSim(opts: {
  miners: ProtoSimMiner[];
  model: PowerModel;
  logger?: Logger;
}): Promise<ProtoSim> {
  const { model } = opts;
  // one miner's listener each, and the timers of delayed effects: stopped together
  const group = new ListenerGroup<Rig>({ label: "proto sim", component: "sim-proto", logger: opts.logger });
  const { log } = group;
  const later = (ms: number, fn: () => void) => group.later(ms, fn);

  function issue(r: Rig) {
    const nowS = Math.floor(model.now() / 1000);
    const claims = (typ: string, ttl: number) => ({
      sub: "admin",
      typ,
      iat: nowS,
      exp: nowS + ttl,
      jti: newJti(),
    });
    return {
      access_token: signJwt(claims("access", r.q.tokenTtlS), r.secret),
      refresh_token: signJwt(claims("refresh", r.q.tokenTtlS * 24), r.secret),
    };
  }

  function bearerOk(r: Rig, req: http.IncomingMessage): boolean {
    const m = /^Bearer\s+(\S+)$/.exec(req.headers.authorization ?? "");
    const claims = m ? verifyJwt(m[1]!, r.secret, Math.floor(model.now() / 1000)) : null;
    return claims?.typ === "access";
  }

  function parseBody(raw: string): Record<string, unknown> | null {
    try {
      const b = JSON.parse(raw) as unknown;
      return typeof b === "object" && b !== null && !Array.isArray(b) ? (b as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  }

  function reboot(r: Rig): void {
    // off the network after the 202 has left, back with a fresh uptime (asleep stays asleep)
    later(50, () => {
      if (!model.setFaulted(r.id, true)) return;
      for (const s of r.sockets) s.destroy();
      later(r.q.rebootMs, () => model.setFaulted(r.id, false));
    });
  }

  /** The reply to one request: [status, body]. */
  function route(
    r: Rig,
    {
      method,
      path,
      raw,
      req,
      query = "",
    }: { method: string; path: string; raw: string; req: http.IncomingMessage; query?: string },
  ): [number, unknown] {
    const v = model.minerView(r.id);
    if (method === "GET" && path === "/api/v1/system") return [200, systemInfo(r, v)];
    if (method === "GET" && path === "/api/v1/system/status")
      return [200, { onboarded: true, password_set: true }];
    if (method === "POST" && path === "/api/v1/auth/login") {
      const body = parseBody(raw);
      if (!body || typeof body.password !== "string") return [400, { message: "password is required" }];
      if (body.password !== r.q.password) {
        r.stats.unauthorized++;
        return [401, { message: "Invalid credentials" }];
      }
      r.stats.logins++;
      const t = issue(r);
      return [200, r.q.drift === "auth-changed" ? { token: t.access_token } : t];
    }
    if (method === "POST" && path === "/api/v1/auth/refresh") {
      const body = parseBody(raw);
      const claims =
        typeof body?.refresh_token === "string"
          ? verifyJwt(body.refresh_token, r.secret, Math.floor(model.now() / 1000))
          : null;
      if (claims?.typ !== "refresh") return [401, { message: "Invalid refresh token" }];
      return [200, { access_token: issue(r).access_token }];
    }
    const known = [
      "GET /api/v1/mining",
      "GET /api/v1/mining/target",
      "PUT /api/v1/mining/target",
      "POST /api/v1/mining/start",
      "POST /api/v1/mining/stop",
      "POST /api/v1/system/reboot",
      "POST /api/v1/system/locate",
      "GET /api/v1/telemetry",
      "GET /api/v1/cooling",
      "GET /api/v1/pools",
    ];
    const call = `${method} ${path}`;
    if (!known.includes(call)) {
      return known.some((k) => k.endsWith(` ${path}`))
        ? [405, { message: "Method not allowed" }]
        : [404, { message: "Not found" }];
    }
    if (!bearerOk(r, req)) {
      r.stats.unauthorized++;
      return [401, { message: "Unauthorized" }];
    }
    switch (call) {
      case "GET /api/v1/mining":
        return [200, miningStatus(r, v)];
      case "GET /api/v1/mining/target":
        return [200, target(r, v)];
      case "PUT /api/v1/mining/target": {
        const w = parseBody(raw)?.power_target_watts;
        if (typeof w !== "number" || !Number.isInteger(w))
          return [400, { message: "power_target_watts must be an integer" }];
        if (w < r.q.minTargetW || w > r.q.maxTargetW) {
          return [
            422,
            { message: `power_target_watts must be between ${r.q.minTargetW} and ${r.q.maxTargetW}` },
          ];
        }
        if (r.q.refuseTargetAboveW !== null && w > r.q.refuseTargetAboveW) {
          return [422, { message: `power target above ${r.q.refuseTargetAboveW} W not accepted` }];
        }
        model.setPowerLimit(r.id, w);
        return [200, target(r, model.minerView(r.id))];
      }
      case "POST /api/v1/mining/stop":
        model.sleep(r.id);
        return [202, { message: "Mining stop command accepted" }];
      case "POST /api/v1/mining/start":
        model.wake(r.id);
        return [202, { message: "Mining start command accepted" }];
      case "POST /api/v1/system/reboot":
        reboot(r);
        return [202, { message: "System reboot command accepted" }];
      case "POST /api/v1/system/locate": {
        const q = new URLSearchParams(query);
        const enable = q.get("enable") ?? "true";
        if (enable !== "true" && enable !== "false") return [400, { message: "enable must be a boolean" }];
        if (enable === "false") {
          model.leds.off(r.id);
          return [202, { message: "Locate disabled" }];
        }
        const s = Number(q.get("led_on_time") ?? "0");
        if (!Number.isInteger(s)) return [400, { message: "led_on_time must be an integer" }];
        // 0 or negative: on until an enable=false (the spec)
        model.leds.on(r.id, s > 0 ? s * 1000 : null);
        return [202, { message: "Locate request accepted" }];
      }
      case "GET /api/v1/telemetry":
        return [200, telemetry(v, model.now())];
      case "GET /api/v1/cooling":
        return [200, cooling(v)];
      default:
        return [200, pools(r)];
    }
  }

  function onRequest(r: Rig, req: http.IncomingMessage, res: http.ServerResponse): void {
    r.stats.requests++;
    readBody(req, { maxBytes: MAX_BODY, log, id: r.id }, (raw, tooLarge) => {
      const [path = "", query = ""] = (req.url ?? "").split("?");
      r.stats.calls.push(`${req.method} ${path}${query ? `?${query}` : ""}`);
      const answer = () => {
        if (model.state(r.id) === "faulted") return res.socket?.destroy();
        if (tooLarge) return sendJson(res, 413, { message: "Request too large" });
        try {
          const [status, body] = route(r, { method: req.method ?? "", path, raw, req, query });
          sendJson(res, status, body);
        } catch (err) {
          log.debug({ miner: r.id, err }, "request failed");
          sendJson(res, 500, { message: "Internal server error" });
        }
      };
      group.after(r.q.replyDelayMs, answer);
    });
  }

  function listen(r: Rig): Promise<void> {
    // a rig that is rebooting (faulted in the model) is off the network
    const server = simHttpServer(r, (req, res) => onRequest(r, req, res), {
      tls: r.tls ? { key: SIM_TLS_KEY, cert: SIM_TLS_CERT } : undefined,
      offline: () => model.state(r.id) === "faulted",
    });
    return bindListener(r, server, { label: "proto sim:", log: log });
  }

  for (const m of opts.miners) {
    if (!model.hasMiner(m.id)) model.addMiner(m.id, "proto-rig");
    group.add({
      id: m.id,
      host: m.host,
      port: m.port,
      tls: m.tls ?? false,
      q: {
        password: m.password ?? PROTO_SIM_PASSWORD,
        tokenTtlS: m.tokenTtlS ?? 3600,
        replyDelayMs: m.replyDelayMs ?? 0,
        drift: m.drift ?? null,
        refuseTargetAboveW: m.refuseTargetAboveW ?? null,
        minTargetW: m.minTargetW ?? 2000,
        maxTargetW: m.maxTargetW ?? 4000,
        rebootMs: m.rebootMs ?? 300,
      },
      secret: newSecret(),
      stats: { requests: 0, logins: 0, unauthorized: 0, calls: [] },
      ...unbound(),
    });
  }

  await group.bind(listen);
  return group.handle({
    stats: (id: string) => group.get(id).stats,
    setQuirks(id: string, quirks: Partial<ProtoQuirks>) {
      Object.assign(group.get(id).q, quirks);
    },
    revokeTokens(id: string) {
      group.get(id).secret = newSecret();
    },
  });
}
