// The Braiins OS gRPC API (bos.v1, default port 50051) as the dialect uses it:
// login, power target, tuner state and locate, over one channel (rpc.ts) per
// miner.
//
// Auth (docs/research.md §2, bos-plus-api README): AuthenticationService/Login
// returns the session token in LoginResponse.token (older firmware: in the
// `authorization` response metadata, still sent by newer ones); every later call
// sends it as `authorization` metadata. The miner forgets it after 3600 s idle.
// Tokens are cached per miner and credentials, beyond the life of one client,
// so a reconnect reuses them; on UNAUTHENTICATED the client logs in again once
// and repeats the call.
//
// gRPC statuses become DriverErrors with WK_BRAIINS_* codes; `retryable` says
// whether sending the same request again could succeed.
import type { DescMessage, DescMethodUnary, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { DriverError } from "../../../types.ts";
import { BRAIINS_GRPC_PORT, braiinsClientKey } from "./client-key.ts";
import { ActionsService, AuthenticationService, PerformanceService, SaveAction } from "./gen/bos_v1_pb.ts";
import { GrpcChannel, methodName } from "./rpc.ts";

/** The server forgets a token after this long without use (bos-plus-api). */
const TOKEN_IDLE_MS = 3_600_000;
/** Re-login this much before the server's idle expiry rather than race it. */
const TOKEN_MARGIN_MS = 60_000;
const DEFAULT_TIMEOUT_MS = 10_000;

const STATUS_NAME = new Map<number, string>(
  Object.entries(GrpcStatus).flatMap(([k, v]) => (typeof v === "number" ? [[v, k] as const] : [])),
);

export interface BraiinsClientOptions {
  host: string;
  /** Default 50051. */
  port?: number;
  username: string;
  password: string;
  /** Per call (each of login and the call itself), connecting included. Default 10 s. */
  timeoutMs?: number;
  now?: () => number;
}

export interface TunerStateReply {
  /** TunerState: 0 unspecified, 1 disabled, 2 stable, 3 tuning, 4 error. */
  overallState: number;
  /** PowerTargetModeState.current_target.watt, or null outside power-target mode. */
  powerTargetW: number | null;
}

interface CachedToken {
  token: string;
  lastUsedAt: number;
}

/** Tokens by miner and credentials; they outlive clients so a reconnect reuses them. */
const tokens = new Map<string, CachedToken>();

/** Forgets every cached token (tests). */
export function clearBraiinsTokens(): void {
  tokens.clear();
}

function statusError(method: string, code: number, details: string): DriverError {
  const text = `${method}: grpc-status ${code} ${STATUS_NAME.get(code) ?? "UNKNOWN"}${details ? `: ${details}` : ""}`;
  switch (code) {
    case GrpcStatus.INVALID_ARGUMENT:
      return new DriverError("WK_BRAIINS_INVALID_ARGUMENT", text, false);
    case GrpcStatus.PERMISSION_DENIED:
      return new DriverError("WK_BRAIINS_PERMISSION_DENIED", text, false);
    case GrpcStatus.UNAUTHENTICATED:
      return new DriverError("WK_BRAIINS_UNAUTHENTICATED", text, false);
    case GrpcStatus.NOT_FOUND:
    case GrpcStatus.UNIMPLEMENTED:
      // firmware without this method (older API): a retry cannot change that
      return new DriverError("WK_BRAIINS_UNIMPLEMENTED", text, false);
    case GrpcStatus.FAILED_PRECONDITION:
      return new DriverError("WK_BRAIINS_FAILED_PRECONDITION", text, false);
    case GrpcStatus.CANCELLED:
    case GrpcStatus.RESOURCE_EXHAUSTED:
    case GrpcStatus.ABORTED:
    case GrpcStatus.UNAVAILABLE:
      return new DriverError("WK_BRAIINS_UNAVAILABLE", text, true);
    default:
      // UNKNOWN, INTERNAL and the rest: a server-side fault that may pass
      return new DriverError(
        "WK_BRAIINS_GRPC_ERROR",
        text,
        code === GrpcStatus.UNKNOWN || code === GrpcStatus.INTERNAL,
      );
  }
}

/** A uint64 watt figure as a number; one past 2^53 is not a reading. */
function watts(method: string, watt: bigint): number {
  if (watt > BigInt(Number.MAX_SAFE_INTEGER))
    throw new DriverError("WK_BRAIINS_BAD_REPLY", `${method}: watt value too large: ${watt}`, false);
  return Number(watt);
}

export class BraiinsClient {
  private readonly key: string;
  private readonly username: string;
  private readonly password: string;
  private readonly now: () => number;
  private readonly channel: GrpcChannel;

  constructor(opts: BraiinsClientOptions) {
    const port = opts.port ?? BRAIINS_GRPC_PORT;
    this.username = opts.username;
    this.password = opts.password;
    this.now = opts.now ?? Date.now;
    this.key = braiinsClientKey(
      { host: opts.host, port },
      { username: this.username, password: this.password },
    );
    this.channel = new GrpcChannel(opts.host, port, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  }

  /** Sets the tuner's power target (SAVE_AND_APPLY); returns the target the miner reports back. */
  async setPowerTarget(watt: number, signal?: AbortSignal): Promise<number> {
    const w = Math.round(watt);
    if (!(w > 0)) throw new DriverError("WK_BRAIINS_INVALID_ARGUMENT", `bad power target: ${watt}`, false);
    const method = PerformanceService.method.setPowerTarget;
    const reply = await this.call(
      method,
      { saveAction: SaveAction.SAVE_AND_APPLY, powerTarget: { watt: BigInt(w) } },
      signal,
    );
    return reply.powerTarget ? watts(methodName(method), reply.powerTarget.watt) : w;
  }

  /** Locate mode on or off; returns whether it is on, as the reply says. */
  async setLocate(enable: boolean, signal?: AbortSignal): Promise<boolean> {
    return (await this.call(ActionsService.method.setLocateDeviceStatus, { enable }, signal)).enabled;
  }

  /** Whether locate mode is on. */
  async getLocate(signal?: AbortSignal): Promise<boolean> {
    return (await this.call(ActionsService.method.getLocateDeviceStatus, {}, signal)).enabled;
  }

  async getTunerState(signal?: AbortSignal): Promise<TunerStateReply> {
    const method = PerformanceService.method.getTunerState;
    const reply = await this.call(method, {}, signal);
    const mode = reply.modeState;
    const target = mode.case === "powerTargetModeState" ? mode.value.currentTarget : undefined;
    return {
      overallState: reply.overallTunerState,
      powerTargetW: target ? watts(methodName(method), target.watt) : null,
    };
  }

  /** Closes the channel (the cached token stays for the next one). */
  async close(): Promise<void> {
    this.channel.close();
  }

  private cachedToken(): string | null {
    const t = tokens.get(this.key);
    if (!t) return null;
    if (this.now() - t.lastUsedAt >= TOKEN_IDLE_MS - TOKEN_MARGIN_MS) {
      tokens.delete(this.key);
      return null;
    }
    return t.token;
  }

  private async login(signal?: AbortSignal): Promise<string> {
    tokens.delete(this.key);
    const method = AuthenticationService.method.login;
    const r = await this.channel.unary(
      method,
      { username: this.username, password: this.password },
      { token: null, signal },
    );
    if (!r.ok && (r.code === GrpcStatus.UNAUTHENTICATED || r.code === GrpcStatus.PERMISSION_DENIED)) {
      throw new DriverError(
        "WK_BRAIINS_LOGIN_FAILED",
        `login as "${this.username}" refused (grpc-status ${r.code}${r.details ? `: ${r.details}` : ""}); check the miner's credentials`,
        false,
      );
    }
    if (!r.ok) throw statusError(methodName(method), r.code, r.details);
    // the reply's token field, else the legacy `authorization` response metadata
    const legacy = r.headers?.get("authorization")[0];
    const token = r.reply.token !== "" ? r.reply.token : typeof legacy === "string" ? legacy : "";
    if (token === "") {
      throw new DriverError(
        "WK_BRAIINS_NO_TOKEN",
        "Login succeeded but no authorization token came back",
        false,
      );
    }
    tokens.set(this.key, { token, lastUsedAt: this.now() });
    return token;
  }

  /** An authenticated unary call: logs in when needed, and once more on UNAUTHENTICATED. */
  private async call<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    input: MessageInitShape<I>,
    signal?: AbortSignal,
  ): Promise<MessageShape<O>> {
    let token = this.cachedToken();
    let fresh = false;
    if (token === null) {
      token = await this.login(signal);
      fresh = true;
    }
    let r = await this.channel.unary(method, input, { token, signal });
    if (!r.ok && r.code === GrpcStatus.UNAUTHENTICATED && !fresh) {
      // expired or revoked on the miner (restart, idle): one fresh login, one retry
      token = await this.login(signal);
      r = await this.channel.unary(method, input, { token, signal });
    }
    if (!r.ok) {
      if (r.code === GrpcStatus.UNAUTHENTICATED) tokens.delete(this.key);
      throw statusError(methodName(method), r.code, r.details);
    }
    const cached = tokens.get(this.key);
    if (cached?.token === token) cached.lastUsedAt = this.now();
    return r.reply;
  }
}
