// Unary gRPC over plaintext HTTP/2 (h2c) to the Braiins OS API (default port
// 50051), hand-written on node:http2 so no grpc dependency is needed.
//
// Wire (grpc/doc/PROTOCOL-HTTP2.md): a POST to /<package>.<Service>/<Method>
// with `content-type: application/grpc` and `te: trailers`; each message is a
// 5-byte prefix (compressed flag, 4-byte big-endian length) plus the protobuf.
// The status comes in the `grpc-status` / `grpc-message` (percent-encoded)
// trailers, or in the headers of a trailers-only reply.
//
// Auth (docs/research.md §2, bos-plus-api): AuthenticationService/Login returns
// the token in the `authorization` response metadata; later calls send it in
// their own `authorization` metadata. It expires after 3600 s idle. Tokens are
// cached per miner and per credentials; on UNAUTHENTICATED (16) the client logs
// in again once and repeats the call.
//
// Every call has a timeout; when it fires, the stream is cancelled and the
// session torn down (a hung peer must not hold the next call). Errors are
// DriverErrors with WK_BRAIINS_* codes; `retryable` says whether sending the
// same request again could succeed.
import { createHash } from "node:crypto";
import http2 from "node:http2";
import { DriverError } from "../../types.ts";
import {
  decodeGetTunerStateResponse,
  decodeLocateDeviceStatusResponse,
  decodeSetPowerTargetResponse,
  encodeLoginRequest,
  encodeSetLocateDeviceStatusRequest,
  encodeSetPowerTargetRequest,
  ProtoError,
  SaveAction,
  type TunerStateReply,
} from "./proto.ts";

export const BRAIINS_GRPC_PORT = 50051;

export const BRAIINS_PATHS = {
  login: "/braiins.bos.v1.AuthenticationService/Login",
  setPowerTarget: "/braiins.bos.v1.PerformanceService/SetPowerTarget",
  getTunerState: "/braiins.bos.v1.PerformanceService/GetTunerState",
  setLocate: "/braiins.bos.v1.ActionsService/SetLocateDeviceStatus",
  getLocate: "/braiins.bos.v1.ActionsService/GetLocateDeviceStatus",
} as const;

export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

const STATUS_NAME = new Map<number, string>(Object.entries(GrpcStatus).map(([k, v]) => [v, k]));

/** The server forgets a token after this long without use (bos-plus-api). */
export const TOKEN_IDLE_MS = 3_600_000;
/** Re-login this much before the server's idle expiry rather than race it. */
const TOKEN_MARGIN_MS = 60_000;
const DEFAULT_TIMEOUT_MS = 10_000;
/** An idle session is closed after this long. */
const SESSION_IDLE_MS = 60_000;
const MAX_MESSAGE = 4 * 1024 * 1024;

// --- framing ----------------------------------------------------------------

/** One Length-Prefixed-Message: flag 0 (uncompressed), 4-byte big-endian length, payload. */
export function encodeGrpcMessage(payload: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + payload.length);
  out.writeUInt8(0, 0);
  out.writeUInt32BE(payload.length, 1);
  out.set(payload, 5);
  return out;
}

/** Splits a body into its messages; throws ProtoError on a truncated or compressed frame. */
export function decodeGrpcMessages(body: Uint8Array): Uint8Array[] {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.length);
  const out: Uint8Array[] = [];
  let pos = 0;
  while (pos < buf.length) {
    if (pos + 5 > buf.length) throw new ProtoError("truncated gRPC message prefix");
    const flag = buf.readUInt8(pos);
    const len = buf.readUInt32BE(pos + 1);
    if (flag !== 0) throw new ProtoError(`compressed gRPC message (flag ${flag}) not negotiated`);
    if (len > MAX_MESSAGE) throw new ProtoError(`gRPC message of ${len} bytes is too large`);
    if (pos + 5 + len > buf.length) throw new ProtoError("truncated gRPC message");
    out.push(buf.subarray(pos + 5, pos + 5 + len));
    pos += 5 + len;
  }
  return out;
}

// --- client -----------------------------------------------------------------

export interface BraiinsGrpcOptions {
  host: string;
  /** Default 50051. */
  port?: number;
  username: string;
  password: string;
  /** Per call (each of login and the call itself). Default 10 s. */
  timeoutMs?: number;
  now?: () => number;
}

interface UnaryResult {
  status: number;
  message: string;
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders | null;
  payload: Uint8Array;
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

export function braiinsClientKey(host: string, port: number, username: string, password: string): string {
  const pw = createHash("sha256").update(password).digest("hex").slice(0, 16);
  return `${host}:${port}\u0000${username}\u0000${pw}`;
}

const header = (h: http2.IncomingHttpHeaders | null, name: string): string | null => {
  const v = h?.[name];
  const s = Array.isArray(v) ? v[0] : v;
  return typeof s === "string" && s !== "" ? s : null;
};

function decodeGrpcMessage(raw: string | null): string {
  if (raw === null) return "";
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

function statusError(method: string, r: UnaryResult): DriverError {
  const name = STATUS_NAME.get(r.status) ?? "UNKNOWN";
  const text = `${method}: grpc-status ${r.status} ${name}${r.message ? `: ${r.message}` : ""}`;
  switch (r.status) {
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
    case GrpcStatus.DEADLINE_EXCEEDED:
    case GrpcStatus.RESOURCE_EXHAUSTED:
    case GrpcStatus.ABORTED:
    case GrpcStatus.UNAVAILABLE:
      return new DriverError("WK_BRAIINS_UNAVAILABLE", text, true);
    default:
      // UNKNOWN, INTERNAL and the rest: a server-side fault that may pass
      return new DriverError("WK_BRAIINS_GRPC_ERROR", text, r.status === 2 || r.status === 13);
  }
}

const methodOf = (path: string) => path.slice(path.lastIndexOf(".") + 1);

export class BraiinsGrpcClient {
  readonly host: string;
  readonly port: number;
  readonly key: string;
  private readonly username: string;
  private readonly password: string;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private session: http2.ClientHttp2Session | null = null;
  /** Calls in flight per session. */
  private readonly inFlight = new WeakMap<http2.ClientHttp2Session, number>();

  constructor(opts: BraiinsGrpcOptions) {
    this.host = opts.host;
    this.port = opts.port ?? BRAIINS_GRPC_PORT;
    this.username = opts.username;
    this.password = opts.password;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.now = opts.now ?? Date.now;
    this.key = braiinsClientKey(this.host, this.port, this.username, this.password);
  }

  /** Sets the tuner's power target (SAVE_AND_APPLY); returns the target the miner reports back. */
  async setPowerTarget(watt: number, signal?: AbortSignal): Promise<number> {
    const w = Math.round(watt);
    if (!(w > 0)) throw new DriverError("WK_BRAIINS_INVALID_ARGUMENT", `bad power target: ${watt}`, false);
    const body = encodeSetPowerTargetRequest({ saveAction: SaveAction.SAVE_AND_APPLY, watt: w });
    const reply = await this.call(BRAIINS_PATHS.setPowerTarget, body, signal);
    return this.decode("SetPowerTarget", () => decodeSetPowerTargetResponse(reply).watt) ?? w;
  }

  /** Locate mode on or off; returns whether it is on, as the reply says. */
  async setLocate(enable: boolean, signal?: AbortSignal): Promise<boolean> {
    const payload = await this.call(
      BRAIINS_PATHS.setLocate,
      encodeSetLocateDeviceStatusRequest(enable),
      signal,
    );
    return this.decode("SetLocateDeviceStatus", () => decodeLocateDeviceStatusResponse(payload));
  }

  /** Whether locate mode is on. */
  async getLocate(signal?: AbortSignal): Promise<boolean> {
    const payload = await this.call(BRAIINS_PATHS.getLocate, new Uint8Array(0), signal);
    return this.decode("GetLocateDeviceStatus", () => decodeLocateDeviceStatusResponse(payload));
  }

  async getTunerState(signal?: AbortSignal): Promise<TunerStateReply> {
    const reply = await this.call(BRAIINS_PATHS.getTunerState, new Uint8Array(0), signal);
    return this.decode("GetTunerState", () => decodeGetTunerStateResponse(reply));
  }

  /** Whether a session is open (tests). */
  get connected(): boolean {
    return this.session !== null;
  }

  /** Closes the HTTP/2 session (the cached token stays for the next session). */
  async close(): Promise<void> {
    const s = this.session;
    this.session = null;
    if (!s || s.destroyed) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        s.destroy();
        resolve();
      }, 1000);
      force.unref();
      s.close(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }

  // --- internals -------------------------------------------------------------

  private decode<T>(method: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw new DriverError(
        "WK_BRAIINS_BAD_REPLY",
        `${method}: undecodable reply: ${(err as Error).message}`,
        false,
        {
          cause: err,
        },
      );
    }
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
    const body = encodeLoginRequest({ username: this.username, password: this.password });
    const r = await this.unary(BRAIINS_PATHS.login, body, null, signal);
    if (r.status === GrpcStatus.UNAUTHENTICATED || r.status === GrpcStatus.PERMISSION_DENIED) {
      throw new DriverError(
        "WK_BRAIINS_LOGIN_FAILED",
        `login as "${this.username}" refused (grpc-status ${r.status}${r.message ? `: ${r.message}` : ""}); check the miner's credentials`,
        false,
      );
    }
    if (r.status !== GrpcStatus.OK) throw statusError("Login", r);
    // the token is response metadata: normally in the headers, accepted in the trailers too
    const token = header(r.headers, "authorization") ?? header(r.trailers, "authorization");
    if (token === null) {
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
  private async call(path: string, body: Uint8Array, signal?: AbortSignal): Promise<Uint8Array> {
    let token = this.cachedToken();
    let fresh = false;
    if (token === null) {
      token = await this.login(signal);
      fresh = true;
    }
    let r = await this.unary(path, body, token, signal);
    if (r.status === GrpcStatus.UNAUTHENTICATED && !fresh) {
      // expired or revoked on the miner (restart, idle): one fresh login, one retry
      token = await this.login(signal);
      r = await this.unary(path, body, token, signal);
    }
    if (r.status === GrpcStatus.UNAUTHENTICATED) tokens.delete(this.key);
    if (r.status !== GrpcStatus.OK) throw statusError(methodOf(path), r);
    const cached = tokens.get(this.key);
    if (cached?.token === token) cached.lastUsedAt = this.now();
    return r.payload;
  }

  private connect(): http2.ClientHttp2Session {
    const cur = this.session;
    if (cur && !cur.closed && !cur.destroyed) return cur;
    const host = this.host.includes(":") ? `[${this.host}]` : this.host;
    const s = http2.connect(`http://${host}:${this.port}`);
    // connection errors surface through the pending stream; this keeps them from being unhandled
    s.on("error", () => {});
    s.on("close", () => {
      if (this.session === s) this.session = null;
    });
    s.on("goaway", () => {
      if (this.session === s) this.session = null;
    });
    s.setTimeout(SESSION_IDLE_MS, () => s.close());
    // an idle session must not keep the process alive; a call in flight holds its timeout timer
    s.unref();
    this.session = s;
    return s;
  }

  private dropSession(s: http2.ClientHttp2Session): void {
    if (this.session === s) this.session = null;
    s.destroy();
  }

  /**
   * After a call timed out: a hung session is dropped, but not under the other
   * calls still running on it (their own deadlines judge them); it is then
   * only retired, so no new call starts on it.
   */
  private retireSession(s: http2.ClientHttp2Session): void {
    if ((this.inFlight.get(s) ?? 0) > 0) {
      if (this.session === s) this.session = null;
      s.close();
    } else this.dropSession(s);
  }

  private unary(
    path: string,
    body: Uint8Array,
    token: string | null,
    signal?: AbortSignal,
  ): Promise<UnaryResult> {
    const method = methodOf(path);
    const where = `${this.host}:${this.port}`;
    if (signal?.aborted)
      return Promise.reject(new DriverError("WK_BRAIINS_ABORTED", `${method} aborted`, false));
    return new Promise<UnaryResult>((resolve, reject) => {
      const session = this.connect();
      const headers: http2.OutgoingHttpHeaders = {
        ":method": "POST",
        ":path": path,
        "content-type": "application/grpc",
        te: "trailers",
        "grpc-timeout": `${Math.max(1, Math.ceil(this.timeoutMs))}m`,
      };
      if (token !== null) headers.authorization = token;
      let stream: http2.ClientHttp2Stream;
      try {
        stream = session.request(headers);
        this.inFlight.set(session, (this.inFlight.get(session) ?? 0) + 1);
      } catch (err) {
        this.dropSession(session);
        reject(
          new DriverError(
            "WK_BRAIINS_UNREACHABLE",
            `${method} to ${where}: ${(err as Error).message}`,
            true,
            {
              cause: err,
            },
          ),
        );
        return;
      }
      let response: http2.IncomingHttpHeaders | null = null;
      let trailers: http2.IncomingHttpHeaders | null = null;
      let streamError: Error | null = null;
      const chunks: Buffer[] = [];
      let size = 0;
      let done = false;

      const finish = (err: DriverError | null, value?: UnaryResult) => {
        if (done) return;
        done = true;
        this.inFlight.set(session, (this.inFlight.get(session) ?? 1) - 1);
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        if (err) reject(err);
        else resolve(value!);
      };
      const timer = setTimeout(() => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        finish(
          new DriverError(
            "WK_BRAIINS_TIMEOUT",
            `${method} to ${where}: no reply within ${this.timeoutMs} ms`,
            true,
          ),
        );
        this.retireSession(session);
      }, this.timeoutMs);
      const onAbort = () => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        finish(new DriverError("WK_BRAIINS_ABORTED", `${method} aborted`, false));
      };
      signal?.addEventListener("abort", onAbort, { once: true });

      stream.on("response", (h) => {
        response = h;
      });
      stream.on("trailers", (h) => {
        trailers = h;
      });
      stream.on("data", (c: Buffer) => {
        size += c.length;
        if (size > MAX_MESSAGE + 5) {
          stream.close(http2.constants.NGHTTP2_CANCEL);
          finish(
            new DriverError(
              "WK_BRAIINS_BAD_REPLY",
              `${method}: reply larger than ${MAX_MESSAGE} bytes`,
              false,
            ),
          );
          return;
        }
        chunks.push(c);
      });
      stream.on("error", (err) => {
        streamError = err;
      });
      stream.on("close", () => {
        if (done) return;
        const h = response as http2.IncomingHttpHeaders | null;
        const t = trailers as http2.IncomingHttpHeaders | null;
        if (h === null) {
          const why = (streamError as Error | null)?.message ?? `stream reset (code ${stream.rstCode})`;
          finish(new DriverError("WK_BRAIINS_UNREACHABLE", `${method} to ${where}: ${why}`, true));
          return;
        }
        const httpStatus = Number(h[":status"]);
        if (httpStatus !== 200) {
          finish(
            new DriverError(
              "WK_BRAIINS_HTTP_STATUS",
              `${method} to ${where}: HTTP ${httpStatus} (is this the Braiins gRPC port?)`,
              httpStatus >= 500,
            ),
          );
          return;
        }
        // trailers-only replies carry the status in the headers
        const rawStatus = header(t, "grpc-status") ?? header(h, "grpc-status");
        if (rawStatus === null || !/^\d+$/.test(rawStatus)) {
          finish(
            new DriverError(
              "WK_BRAIINS_PROTOCOL",
              `${method} to ${where}: reply without grpc-status${streamError ? ` (${(streamError as Error).message})` : ""}`,
              true,
            ),
          );
          return;
        }
        const status = Number(rawStatus);
        const message = decodeGrpcMessage(header(t, "grpc-message") ?? header(h, "grpc-message"));
        let payload: Uint8Array = new Uint8Array(0);
        if (status === GrpcStatus.OK) {
          try {
            const messages = decodeGrpcMessages(Buffer.concat(chunks));
            if (messages.length !== 1) throw new ProtoError(`expected 1 message, got ${messages.length}`);
            payload = messages[0]!;
          } catch (err) {
            finish(
              new DriverError("WK_BRAIINS_BAD_REPLY", `${method}: ${(err as Error).message}`, false, {
                cause: err,
              }),
            );
            return;
          }
        }
        finish(null, { status, message, headers: h, trailers: t, payload });
      });
      stream.end(encodeGrpcMessage(body));
    });
  }
}
