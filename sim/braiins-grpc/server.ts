// Simulated Braiins OS gRPC API (plaintext HTTP/2, default port 50051): the
// unary methods the driver uses, framed and encoded by the sim's own hand
// (wire.ts), never by the driver's library-based client.
//   AuthenticationService/Login   checks the miner's credentials (default root
//                                 with an empty password) and returns a token
//                                 in LoginResponse.token and, as older firmware
//                                 did, in the `authorization` response header.
//   PerformanceService/SetPowerTarget  needs a valid token; applies the target
//                                 to the power model, so `tunerstatus`
//                                 PowerLimit and the draw follow.
//   PerformanceService/GetTunerState   reports the target in force.
//   ActionsService/SetLocateDeviceStatus, GetLocateDeviceStatus  the locate
//                                 LED (sim/leds.ts), on until set off.
// Statuses: 16 UNAUTHENTICATED (no, unknown or idle-expired token, bad login),
// 3 INVALID_ARGUMENT (target below the minimum, no target, no save action),
// 12 UNIMPLEMENTED (other paths), 14 UNAVAILABLE (faulted miner). Tokens expire
// after 3600 s idle on the power model's clock. One listener per miner.
import { randomBytes } from "node:crypto";
import http2 from "node:http2";
import { type Logger, pino } from "pino";
import type { PowerModel } from "../power-model.ts";
import {
  frame,
  readLoginRequest,
  readSetLocateRequest,
  readSetPowerTargetRequest,
  SaveAction,
  TunerState,
  unframe,
  writeGetTunerStateResponse,
  writeLocateStatus,
  writeLoginResponse,
  writeSetPowerTargetResponse,
} from "./wire.ts";

const BRAIINS_GRPC_PORT = 50051;
/** Braiins OS forgets a token after an hour without use (bos-plus-api README). */
const TOKEN_IDLE_MS = 3_600_000;

/** gRPC status codes the sim answers with (grpc/doc/statuscodes.md). */
const GrpcStatus = {
  INVALID_ARGUMENT: 3,
  FAILED_PRECONDITION: 9,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

const PATHS = {
  login: "/braiins.bos.v1.AuthenticationService/Login",
  setPowerTarget: "/braiins.bos.v1.PerformanceService/SetPowerTarget",
  getTunerState: "/braiins.bos.v1.PerformanceService/GetTunerState",
  setLocate: "/braiins.bos.v1.ActionsService/SetLocateDeviceStatus",
  getLocate: "/braiins.bos.v1.ActionsService/GetLocateDeviceStatus",
} as const;

export interface BraiinsGrpcSimMiner {
  id: string;
  host: string;
  /** Default 50051; 0 picks a free port (see `endpoints`). */
  port?: number;
  /** Default "root". */
  username?: string;
  /** Default "" (the BOS factory default). */
  password?: string;
  /** Lowest accepted power target (W); default half the model's nominal. */
  minPowerTargetW?: number;
  /**
   * Refuse targets above this (W), as Braiins OS 24.02 refused power-target increases
   * (FAILED_PRECONDITION; the wording is the sim's own).
   */
  refuseTargetsAboveW?: number;
}

export interface BraiinsGrpcSim {
  readonly endpoints: ReadonlyArray<{ id: string; host: string; port: number }>;
  /** Successful logins so far for a miner (tests count re-logins). */
  loginCount(id: string): number;
  /** Forgets every token a miner issued, as a restart of the miner does. */
  revokeTokens(id: string): void;
  /** Delays every reply of a miner (tests of the client's timeout); 0 lifts it. */
  setReplyDelay(id: string, ms: number): void;
  /** Open HTTP/2 sessions of one miner, or of all miners. */
  sessionCount(id?: string): number;
  stop(): Promise<void>;
}

interface Entry {
  id: string;
  host: string;
  port: number;
  username: string;
  password: string;
  minW: number;
  refuseAboveW: number | null;
  server: http2.Http2Server;
  sessions: Set<http2.ServerHttp2Session>;
  tokens: Map<string, number>;
  logins: number;
  delayMs: number;
  timers: Set<NodeJS.Timeout>;
}

type Outcome =
  | { status: 0; payload: Uint8Array; headers?: http2.OutgoingHttpHeaders }
  | { status: number; message: string };

const fail = (status: number, message: string): Outcome => ({ status, message });

/** One gRPC call: its method path, the session token it carries (null: none) and its message. */
function handle(
  entry: Entry,
  model: PowerModel,
  { path, auth, body }: { path: string; auth: string | null; body: Uint8Array },
): Outcome {
  const now = model.now();
  if (path === PATHS.login) {
    const req = readLoginRequest(body);
    if (req.username !== entry.username || req.password !== entry.password) {
      return fail(GrpcStatus.UNAUTHENTICATED, "Invalid username or password");
    }
    const token = randomBytes(16).toString("hex");
    entry.tokens.set(token, now);
    entry.logins++;
    // current firmware: the token in the reply; the legacy `authorization` header as well
    return {
      status: 0,
      payload: writeLoginResponse(token, TOKEN_IDLE_MS / 1000),
      headers: { authorization: token },
    };
  }
  if (
    path !== PATHS.setPowerTarget &&
    path !== PATHS.getTunerState &&
    path !== PATHS.setLocate &&
    path !== PATHS.getLocate
  ) {
    return fail(GrpcStatus.UNIMPLEMENTED, `Method not found: ${path}`);
  }
  const lastUsed = auth === null ? undefined : entry.tokens.get(auth);
  if (auth === null || lastUsed === undefined) return fail(GrpcStatus.UNAUTHENTICATED, "Unauthenticated");
  if (now - lastUsed >= TOKEN_IDLE_MS) {
    entry.tokens.delete(auth);
    return fail(GrpcStatus.UNAUTHENTICATED, "Token expired");
  }
  entry.tokens.set(auth, now);
  const view = model.minerView(entry.id);
  if (view.state === "faulted") return fail(GrpcStatus.UNAVAILABLE, "Miner is not running");
  if (path === PATHS.setLocate || path === PATHS.getLocate) {
    if (path === PATHS.setLocate) {
      if (readSetLocateRequest(body)) model.leds.on(entry.id);
      else model.leds.off(entry.id);
    }
    return { status: 0, payload: writeLocateStatus(model.leds.isOn(entry.id)) };
  }
  if (path === PATHS.getTunerState) {
    return {
      status: 0,
      payload: writeGetTunerStateResponse(
        view.state === "hashing" ? TunerState.STABLE : TunerState.DISABLED,
        Math.round(view.powerLimitW ?? view.model.nominalW),
      ),
    };
  }
  const req = readSetPowerTargetRequest(body);
  if (req.saveAction === SaveAction.UNSPECIFIED)
    return fail(GrpcStatus.INVALID_ARGUMENT, "Missing save action");
  if (req.watt === null) return fail(GrpcStatus.INVALID_ARGUMENT, "Missing power target");
  if (req.watt < entry.minW) {
    return fail(
      GrpcStatus.INVALID_ARGUMENT,
      `Power target ${req.watt} W is below the minimum of ${entry.minW} W`,
    );
  }
  if (entry.refuseAboveW !== null && req.watt > entry.refuseAboveW) {
    return fail(GrpcStatus.FAILED_PRECONDITION, `Power target ${req.watt} W cannot be applied`);
  }
  // SAVE alone changes the configuration, not the running tuner
  if (req.saveAction !== SaveAction.SAVE) model.setPowerLimit(entry.id, req.watt);
  return { status: 0, payload: writeSetPowerTargetResponse(req.watt) };
}

function reply(stream: http2.ServerHttp2Stream, outcome: Outcome): void {
  if (stream.destroyed || stream.closed) return;
  if (outcome.status !== 0) {
    // trailers-only: the status rides in the only HEADERS frame
    const message = "message" in outcome ? outcome.message : "";
    stream.respond(
      {
        ":status": 200,
        "content-type": "application/grpc",
        "grpc-status": String(outcome.status),
        "grpc-message": encodeURIComponent(message),
      },
      { endStream: true },
    );
    return;
  }
  const ok = outcome as Extract<Outcome, { status: 0 }>;
  stream.respond(
    { ":status": 200, "content-type": "application/grpc", ...ok.headers },
    { waitForTrailers: true },
  );
  stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
  stream.end(frame(ok.payload));
}

export async function startBraiinsGrpcSim(opts: {
  model: PowerModel;
  miners: BraiinsGrpcSimMiner[];
  logger?: Logger;
}): Promise<BraiinsGrpcSim> {
  const log = opts.logger ?? pino({ level: "silent" });
  const { model } = opts;
  const entries = new Map<string, Entry>();

  const onStream = (entry: Entry, stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    stream.on("error", () => {});
    const path = String(headers[":path"] ?? "");
    const contentType = String(headers["content-type"] ?? "");
    if (headers[":method"] !== "POST" || !contentType.startsWith("application/grpc")) {
      stream.respond({ ":status": 415, "content-type": "text/plain" });
      stream.end("gRPC only\n");
      return;
    }
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      let outcome: Outcome;
      try {
        const messages = unframe(Buffer.concat(chunks));
        if (messages.length !== 1) throw new Error(`expected 1 request message, got ${messages.length}`);
        const auth = typeof headers.authorization === "string" ? headers.authorization : null;
        outcome = handle(entry, model, { path, auth, body: messages[0]! });
      } catch (err) {
        outcome = fail(GrpcStatus.INTERNAL, (err as Error).message);
      }
      log.debug({ miner: entry.id, path, status: outcome.status }, "braiins grpc");
      if (entry.delayMs > 0) {
        const t = setTimeout(() => {
          entry.timers.delete(t);
          reply(stream, outcome);
        }, entry.delayMs);
        entry.timers.add(t);
      } else reply(stream, outcome);
    });
  };

  const stopAll = async () => {
    await Promise.allSettled(
      [...entries.values()].map(
        (e) =>
          new Promise<void>((resolve) => {
            for (const t of e.timers) clearTimeout(t);
            e.timers.clear();
            for (const s of e.sessions) s.destroy();
            e.sessions.clear();
            if (!e.server.listening) return resolve();
            e.server.close(() => resolve());
          }),
      ),
    );
    entries.clear();
  };

  try {
    for (const m of opts.miners) {
      if (!model.hasMiner(m.id)) throw new Error(`braiins grpc sim: unknown miner "${m.id}"`);
      const server = http2.createServer();
      const entry: Entry = {
        id: m.id,
        host: m.host,
        port: m.port ?? BRAIINS_GRPC_PORT,
        username: m.username ?? "root",
        password: m.password ?? "",
        minW: m.minPowerTargetW ?? Math.round(model.minerView(m.id).model.nominalW * 0.5),
        refuseAboveW: m.refuseTargetsAboveW ?? null,
        server,
        sessions: new Set(),
        tokens: new Map(),
        logins: 0,
        delayMs: 0,
        timers: new Set(),
      };
      entries.set(m.id, entry);
      server.on("session", (s) => {
        entry.sessions.add(s);
        s.on("error", () => {});
        s.on("close", () => entry.sessions.delete(s));
      });
      server.on("stream", (stream, headers) => onStream(entry, stream, headers));
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(entry.port, entry.host, () => {
          server.off("error", reject);
          resolve();
        });
      });
      const addr = server.address();
      if (addr && typeof addr === "object") entry.port = addr.port;
    }
  } catch (err) {
    await stopAll();
    throw err;
  }

  const get = (id: string) => {
    const e = entries.get(id);
    if (!e) throw new Error(`braiins grpc sim: unknown miner "${id}"`);
    return e;
  };

  return {
    endpoints: [...entries.values()].map((e) => ({ id: e.id, host: e.host, port: e.port })),
    loginCount: (id) => get(id).logins,
    revokeTokens: (id) => get(id).tokens.clear(),
    setReplyDelay(id, ms) {
      get(id).delayMs = ms;
    },
    sessionCount: (id) =>
      id === undefined
        ? [...entries.values()].reduce((n, e) => n + e.sessions.size, 0)
        : get(id).sessions.size,
    stop: stopAll,
  };
}
