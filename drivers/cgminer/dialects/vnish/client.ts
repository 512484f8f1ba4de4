// The VNish web API client: JSON over HTTP on the unit's web port (80), each
// request on its own connection under one deadline (http-client.ts), error
// codes WK_VNISH_*. Login is `POST /api/v1/unlock {"pw"}` → {"token"}, sent as
// `Authorization: Bearer <token>` (the 1.2.6 API reference; asic-rs sends it so).
//
// Tokens are cached per host:port:password for the whole process (every driver
// and probe of one unit shares one), concurrent callers share one login, and a
// 401 to a cached token (it expired, the unit rebooted) is answered with one
// fresh login and one resend. A refused password is WK_VNISH_AUTH, not
// retryable: retrying a wrong password only fills the unit's log.

import { DriverError } from "../../../types.ts";
import type { HttpReply, HttpTarget } from "../../http-client.ts";
import { jsonRequest } from "../../http-json.ts";
import type { RecentReplies } from "../../recent-replies.ts";
import { errText, firmwareChanged } from "./schemas.ts";

export const VNISH_LABEL = "VNISH";
/** The factory password (what pyasic and asic-rs send when given none). */
export const VNISH_DEFAULT_PASSWORD = "admin";
export const VNISH_WEB_PORT = 80;
const UNLOCK = "/api/v1/unlock";

export interface VnishTimeouts {
  connectTimeoutMs: number;
  /** Deadline for one whole request, connect included. */
  timeoutMs: number;
  /** First contact: replies to reuse (recent-replies.ts). */
  recent?: RecentReplies<HttpReply> | undefined;
}

const tokens = new Map<string, string>();
const logins = new Map<string, Promise<string>>();

interface VnishRequest {
  method: "GET" | "POST";
  path: string;
  body?: unknown;
}

interface VnishReply {
  status: number;
  json: unknown;
}

export class VnishClient {
  /** "vnish 1.2.6" once /info has been read; names the firmware in drift errors. */
  fw = "vnish (version unknown)";
  private readonly key: string;

  readonly target: HttpTarget;
  readonly password: string;
  private readonly timeouts: VnishTimeouts;
  private readonly signal?: AbortSignal;
  /** Whether the password is the factory default, tried because none was configured. */
  private readonly defaulted: boolean;

  constructor(opts: {
    target: HttpTarget;
    password: string;
    timeouts: VnishTimeouts;
    signal?: AbortSignal;
    defaulted?: boolean;
  }) {
    const { target, password } = opts;
    this.target = target;
    this.password = password;
    this.timeouts = opts.timeouts;
    this.signal = opts.signal;
    this.defaulted = opts.defaulted ?? false;
    this.key = `${target.host}:${target.port}:${password}`;
  }

  get(path: string, auth: boolean): Promise<unknown> {
    return this.request({ method: "GET", path }, auth);
  }

  post(path: string, body: unknown, auth: boolean): Promise<unknown> {
    return this.request({ method: "POST", path, body }, auth);
  }

  /** A token for this unit and password: the cached one, else one login shared by concurrent callers. */
  token(): Promise<string> {
    const cached = tokens.get(this.key);
    if (cached !== undefined) return Promise.resolve(cached);
    let login = logins.get(this.key);
    if (!login) {
      login = this.unlock().finally(() => logins.delete(this.key));
      logins.set(this.key, login);
    }
    return login;
  }

  private async unlock(): Promise<string> {
    const reply = await this.send({ method: "POST", path: UNLOCK, body: { pw: this.password } }, undefined);
    if (reply.status === 401 || reply.status === 403) {
      const why = errText(reply.json);
      throw new DriverError(
        "WK_VNISH_AUTH",
        `VNish at ${this.where} refused the ${this.defaulted ? 'factory password "admin" (none configured)' : "configured password"}: ${UNLOCK} answered HTTP ${reply.status}${why ? ` (${why})` : ""}; set the miner's password in its credentials`,
        false,
      );
    }
    this.judge(reply, { method: "POST", path: UNLOCK });
    const token = (reply.json as { token?: unknown } | null)?.token;
    if (typeof token !== "string" || token === "") {
      throw firmwareChanged(
        this.fw,
        `POST ${UNLOCK} token: expected a string, got ${kind(token)} (the login flow changed)`,
      );
    }
    tokens.set(this.key, token);
    return token;
  }

  private get where(): string {
    return `${this.target.host}:${this.target.port}`;
  }

  private async request(req: VnishRequest, auth: boolean): Promise<unknown> {
    if (!auth) {
      const reply = await this.send(req, undefined);
      this.judge(reply, req);
      return reply.json;
    }
    const { method, path } = req;
    let token = await this.token();
    let reply = await this.send(req, token);
    if (reply.status === 401) {
      // the token expired or the unit rebooted: one fresh login, one resend
      if (tokens.get(this.key) === token) tokens.delete(this.key);
      token = await this.token();
      reply = await this.send(req, token);
      if (reply.status === 401) {
        throw firmwareChanged(
          this.fw,
          `${method} ${path}: HTTP 401 to a token fresh from ${UNLOCK} (the login flow changed)`,
        );
      }
    }
    this.judge(reply, req);
    return reply.json;
  }

  /** Throws for a status that is not success; 404 means the endpoint is gone (a firmware change). */
  private judge({ status, json }: VnishReply, { method, path }: VnishRequest): void {
    if (status >= 200 && status < 300) return;
    const why = errText(json);
    const what = `${method} ${path}: HTTP ${status}${why ? ` (${why})` : ""}`;
    if (status === 404 || status === 405) throw firmwareChanged(this.fw, `${what}: the endpoint is gone`);
    const retryable = status >= 500 || status === 408 || status === 429 || status === 409;
    throw new DriverError(retryable ? "WK_VNISH_HTTP" : "WK_VNISH_REFUSED", what, retryable);
  }

  private async send({ method, path, body }: VnishRequest, bearer: string | undefined): Promise<VnishReply> {
    try {
      const reply = await jsonRequest(this.target, {
        method,
        path,
        json: method === "POST" ? body : undefined,
        // a POST without a body still says so (curl -d ''), rather than going chunked
        headers: method === "POST" && body === undefined ? { "Content-Length": "0" } : undefined,
        bearer,
        connectTimeoutMs: this.timeouts.connectTimeoutMs,
        timeoutMs: this.timeouts.timeoutMs,
        recent: this.timeouts.recent,
        signal: this.signal,
        label: VNISH_LABEL,
      });
      return { status: reply.status, json: reply.json };
    } catch (err) {
      // an answer that is not JSON where the API answers JSON: the API is not what it was
      if (err instanceof DriverError && err.code === `WK_${VNISH_LABEL}_BAD_REPLY`) {
        throw firmwareChanged(this.fw, err.message);
      }
      throw err;
    }
  }
}

function kind(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  return typeof v;
}
