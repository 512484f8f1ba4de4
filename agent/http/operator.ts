// Operator routes: login (scrypt check, rate limited per client address, per
// account and for the site: login-limiter.ts),
// logout, who is logged in (with the session's CSRF token for the page), and
// actions (every device action — exclude/include with an optional end,
// sleep/wake, locate, reboot, set-power-limit… — and hold/auto) handed to the
// Site with the operator as the actor — the Site audits and events accepted
// intents, and the answer carries the audit entry it was recorded under; the
// refusals at this boundary are audited here.
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import { duration, power } from "../../config/schema/fields.ts";
import { type Actor, DEVICE_ACTIONS, DeviceActionSchema, MAX_EXCLUDE_S } from "../control/intents.ts";
import { httpRefusals } from "../runtime/metrics.ts";
import { addressKey } from "./address.ts";
import { originProblem, tokenProblem } from "./csrf.ts";
import type { LoginBlock, LoginGuard } from "./login-limiter.ts";
import { verifyPassword } from "./password.ts";
import { type BodyReader, HttpError, sendJson } from "./respond.ts";
import {
  clearedSessionCookie,
  readCookie,
  SESSION_COOKIE,
  SESSION_MAX_MS,
  type Session,
  type Sessions,
  sessionCookie,
} from "./sessions.ts";
import type { HttpSite, Operator } from "./types.ts";

export const MAX_BODY_BYTES = 4096;
/** scrypt checks at once: each takes ~32 MiB for ~0.1 s; a burst of logins must not exhaust a small gateway. */
const MAX_CONCURRENT_CHECKS = 4;

export const LoginSchema = z.strictObject({
  name: z.string().min(1).max(64),
  password: z.string().min(1).max(1024),
});

/** What the status page offers (docs/design.md, HTTP: the device actions of MQTT `device/action`, hold mode). */
export const ActionBodySchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("mode"), mode: z.enum(["auto", "hold"]) }),
  z.strictObject({
    kind: z.literal("device"),
    id: z.string().min(1).max(128),
    action: z.enum(DEVICE_ACTIONS),
    value: power({ positive: true }).optional(),
    /** locate: how long the LED blinks (s or "5m"); 0 = off. Checked by DeviceActionSchema. */
    seconds: z.union([z.number(), z.string()]).optional(),
    untilS: duration({ positive: true, max: MAX_EXCLUDE_S }).optional(),
    /** exclude: the end as a time ("maintenance until 16:00": the page sends the next 16:00), instead of untilS. */
    until: z.iso.datetime({ offset: true }).optional(),
    reason: z.string().max(200).optional(),
  }),
]);
export type ActionBody = z.infer<typeof ActionBodySchema>;

export interface OperatorDeps {
  site: HttpSite;
  operators: readonly Operator[];
  sessions: Sessions;
  limiter: LoginGuard;
  /** The page is served over HTTPS: the session cookie is Secure. */
  secureCookies?: boolean;
}

function clientAddress(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? "unknown";
}

const WAIT_WORDS: Record<LoginBlock["scope"], string> = {
  address: "too many failed logins",
  account: "too many failed logins for this account",
  global: "too many failed logins on this site",
};

/** A body's first problem, as the answer says it. */
function firstIssue(e: z.ZodError): string {
  const i = e.issues[0]!;
  return `${i.path.join(".") || "body"}: ${i.message}`;
}

/** A refused request: what was asked and by whom, the answer, and what the audit row keeps. */
interface Refusal {
  action: string;
  who: string;
  status: number;
  /** The metric's label and the audit's aggregation key. */
  reason: string;
  error: string;
  body?: unknown;
  headers?: Record<string, string>;
}

export class OperatorRoutes {
  private checking = 0;

  constructor(private readonly d: OperatorDeps) {}

  sessionOf(req: IncomingMessage): Session | null {
    return this.d.sessions.get(readCookie(req.headers.cookie, SESSION_COOKIE));
  }

  /**
   * Audits the refusal (aggregated per source, reason and minute: a flood of
   * them costs a row a minute, store/audit.ts), counts it, and throws the answer.
   */
  private refuse(
    req: IncomingMessage,
    { action, who, status, reason, error, body = null, headers = {} }: Refusal,
  ): never {
    httpRefusals.inc({ reason });
    try {
      const from = clientAddress(req);
      this.d.site.audit({
        at: Date.now(),
        via: "http",
        who,
        action,
        body: { ...(body && typeof body === "object" ? body : {}), from },
        ok: false,
        error,
        source: from,
        reason,
      });
    } catch {
      // the audit log may be closed while the site stops; the refusal stands
    }
    throw new HttpError(status, error, headers);
  }

  /** The Origin check for every POST. */
  private checkOrigin(req: IncomingMessage, action: string, who: string): void {
    const problem = originProblem(req);
    if (problem)
      this.refuse(req, {
        action,
        who,
        status: 403,
        reason: "cross-site",
        error: `cross-site request refused: ${problem}`,
      });
  }

  /** A logged-in operator with the session's CSRF token, or a refusal. */
  private requireSession(req: IncomingMessage, action: string): Session {
    const s = this.sessionOf(req);
    if (!s) {
      this.refuse(req, {
        action,
        who: "anonymous",
        status: 401,
        reason: "login-required",
        error: "login required",
      });
    }
    this.checkOrigin(req, action, s.operator);
    const problem = tokenProblem(req, s.csrfToken);
    if (problem) {
      this.refuse(req, {
        action,
        who: s.operator,
        status: 403,
        reason: "csrf",
        error: `CSRF check failed: ${problem}`,
      });
    }
    return s;
  }

  login = async (
    req: IncomingMessage,
    res: ServerResponse,
    readBody: BodyReader<z.infer<typeof LoginSchema>>,
  ): Promise<void> => {
    this.checkOrigin(req, "login", "anonymous");
    const addr = clientAddress(req);
    // one host is one key however many addresses of its /64 it uses
    const key = addressKey(addr) ?? addr;
    const wait = (block: LoginBlock | null, body: unknown = null) => {
      if (!block) return;
      const retryS = Math.ceil(block.waitMs / 1000);
      this.refuse(req, {
        action: "login",
        who: "anonymous",
        status: 429,
        reason: `login-wait-${block.scope}`,
        error: `${WAIT_WORDS[block.scope]}: retry in ${retryS} s`,
        body,
        headers: { "retry-after": String(retryS) },
      });
    };
    wait(this.d.limiter.addressWait(key));
    const { parsed } = await readBody();
    if (!parsed.success) throw new HttpError(400, firstIssue(parsed.error));
    const body = parsed.data;
    wait(this.d.limiter.accountWait(key, body.name), { name: body.name });
    const op = this.d.operators.find((o) => o.name === body.name) ?? null;
    if (this.checking >= MAX_CONCURRENT_CHECKS) {
      throw new HttpError(503, "busy checking other logins: retry in a second", { "retry-after": "1" });
    }
    this.checking++;
    let ok: boolean;
    try {
      // unknown names do the same scrypt work: the answer and its timing say nothing about who exists
      ok = await verifyPassword(body.password, op?.passwordHash ?? null);
    } finally {
      this.checking--;
    }
    if (!ok || !op) {
      this.d.limiter.failure(key, body.name);
      this.refuse(req, {
        action: "login",
        who: "anonymous",
        status: 401,
        reason: "wrong-password",
        error: "wrong name or password",
        body: { name: body.name },
      });
    }
    this.d.limiter.success(key);
    const s = this.d.sessions.create(op.name);
    this.d.site.audit({
      at: Date.now(),
      via: "http",
      who: op.name,
      action: "login",
      body: { from: addr },
      ok: true,
    });
    sendJson(
      res,
      200,
      { operator: op.name, csrfToken: s.csrfToken },
      {
        headers: {
          "set-cookie": sessionCookie(s.token, Math.floor(SESSION_MAX_MS / 1000), this.d.secureCookies),
        },
      },
    );
  };

  logout = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const s = this.requireSession(req, "logout");
    this.d.sessions.delete(s.token);
    sendJson(
      res,
      200,
      { ok: true },
      { headers: { "set-cookie": clearedSessionCookie(this.d.secureCookies) } },
    );
  };

  session = (req: IncomingMessage, res: ServerResponse): void => {
    const s = this.sessionOf(req);
    sendJson(res, 200, {
      operator: s?.operator ?? null,
      csrfToken: s?.csrfToken ?? null,
      // the page shows a login form only where someone can log in
      loginEnabled: this.d.operators.length > 0,
    });
  };

  actions = async (
    req: IncomingMessage,
    res: ServerResponse,
    readBody: BodyReader<ActionBody>,
  ): Promise<void> => {
    const s = this.requireSession(req, "actions");
    const { raw, parsed: r } = await readBody();
    const badBody = (why: string): never =>
      this.refuse(req, {
        action: "actions",
        who: s.operator,
        status: 400,
        reason: "bad-body",
        error: why,
        body: raw,
      });
    if (!r.success) return badBody(firstIssue(r.error));
    const body = r.data;
    // the request's id ties the answer to the audit entry the site writes for it
    const actor: Actor = { via: "http", who: s.operator, ref: randomUUID() };
    let result: Awaited<ReturnType<HttpSite["deviceAction"]>>;
    if (body.kind === "mode") result = this.d.site.setMode(body.mode, actor);
    else {
      const { kind: _kind, until, ...intent } = body;
      if (until !== undefined) {
        if (intent.untilS !== undefined) badBody("until: give until or untilS, not both");
        const untilS = (Date.parse(until) - Date.now()) / 1000;
        if (!(untilS > 0)) badBody("until: is in the past");
        intent.untilS = untilS;
      }
      const parsed = DeviceActionSchema.safeParse(intent);
      if (!parsed.success) return badBody(firstIssue(parsed.error));
      result = await this.d.site.deviceAction(parsed.data, actor);
    }
    let audit = null;
    try {
      audit = this.d.site.auditByRef?.(actor.ref!) ?? null;
    } catch {
      // the audit log may be closing with the site; the action's answer stands
    }
    sendJson(res, result.ok ? 200 : 409, {
      ...result,
      audit: audit && {
        id: audit.id,
        at: audit.at,
        who: audit.who,
        via: audit.via,
        action: audit.action,
        ok: audit.ok,
      },
    });
  };
}
