// The VEN's side of the OpenADR 3 REST API (spec 3.1.1): an OAuth2
// client-credentials token (or a static bearer token), the programs the site
// follows by name, their events, and usage reports. Every call has a deadline;
// every reply is validated (zod) before use; a 401 fetches a new token once.
import { z } from "zod";
import type { OadrEvent } from "./schedule.ts";

const DEFAULT_OADR_TIMEOUT_MS = 10_000;
/** A token is renewed this long before it expires. */
const TOKEN_MARGIN_MS = 60_000;
/** The spec's page size limit for searches. */
const PAGE = 50;

const PeriodSchema = z
  .object({
    start: z.string().nullish(),
    duration: z.string().nullish(),
    randomizeStart: z.string().nullish(),
  })
  .nullish();

const ProgramSchema = z.object({ id: z.string().min(1), programName: z.string().min(1) });

const EventSchema = z.object({
  id: z.string().min(1),
  programID: z.string().min(1),
  eventName: z.string().nullish(),
  priority: z.number().int().nullish(),
  intervalPeriod: PeriodSchema,
  intervals: z
    .array(
      z.object({
        id: z.number().int(),
        intervalPeriod: PeriodSchema,
        payloads: z.array(z.object({ type: z.string().min(1), values: z.array(z.unknown()) })),
      }),
    )
    .default([]),
  payloadDescriptors: z
    .array(z.object({ payloadType: z.string().nullish(), units: z.string().nullish() }).loose())
    .nullish(),
  reportDescriptors: z.array(z.object({ payloadType: z.string().nullish() }).loose()).nullish(),
});

const TokenSchema = z.object({
  access_token: z.string().min(1),
  token_type: z.string(),
  expires_in: z.number().positive().optional(),
});

const AuthServerSchema = z.object({ tokenURL: z.string().min(2) });

export interface VtnAuth {
  /** OAuth2 client credentials; the token endpoint from `tokenUrl` or the VTN's /auth/server. */
  clientId?: string | null;
  clientSecret?: string | null;
  tokenUrl?: string | null;
  /** A static bearer token instead (tokenFile). */
  token?: string | null;
}

class VtnError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
    this.name = "VtnError";
  }
}

export interface UsageReport {
  eventID: string;
  clientName: string;
  reportName: string;
  resourceName: string;
  intervals: Array<{ id: number; startMs: number; durationMs: number; usageKwh: number; demandKw: number }>;
}

interface VtnRequest {
  method: "GET" | "POST";
  path: string;
  body?: unknown;
}

export class VtnClient {
  private token: { value: string; expiresAt: number } | null = null;
  private readonly base: string;

  constructor(
    vtnUrl: string,
    private readonly auth: VtnAuth,
    private readonly opts: { timeoutMs?: number; now?: () => number; fetch?: typeof fetch } = {},
  ) {
    this.base = vtnUrl.replace(/\/+$/, "");
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** The programs of the given names that the VTN knows, name → id. */
  async programIds(names: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (let skip = 0; ; skip += PAGE) {
      const page = z
        .array(ProgramSchema.loose())
        .parse(await this.get(`/programs?skip=${skip}&limit=${PAGE}`));
      for (const p of page) if (names.includes(p.programName)) out.set(p.programName, p.id);
      if (page.length < PAGE) break;
    }
    return out;
  }

  /** Every event of one program. */
  async events(programId: string): Promise<OadrEvent[]> {
    const out: OadrEvent[] = [];
    for (let skip = 0; ; skip += PAGE) {
      const raw = await this.get(
        `/events?programID=${encodeURIComponent(programId)}&skip=${skip}&limit=${PAGE}`,
      );
      const page = z.array(z.unknown()).parse(raw);
      for (const item of page) {
        const e = EventSchema.safeParse(item);
        // one malformed event must not hide the others
        if (e.success) out.push(e.data);
      }
      if (page.length < PAGE) break;
    }
    return out;
  }

  /** POSTs a usage report (USAGE in kWh and DEMAND in kW, per interval). */
  async report(r: UsageReport): Promise<void> {
    const body = {
      eventID: r.eventID,
      clientName: r.clientName,
      reportName: r.reportName,
      payloadDescriptors: [
        {
          objectType: "REPORT_PAYLOAD_DESCRIPTOR",
          payloadType: "USAGE",
          readingType: "DIRECT_READ",
          units: "KWH",
        },
        {
          objectType: "REPORT_PAYLOAD_DESCRIPTOR",
          payloadType: "DEMAND",
          readingType: "AVERAGE",
          units: "KW",
        },
      ],
      resources: [
        {
          resourceName: r.resourceName,
          intervals: r.intervals.map((i) => ({
            id: i.id,
            intervalPeriod: { start: new Date(i.startMs).toISOString(), duration: isoSeconds(i.durationMs) },
            payloads: [
              { type: "USAGE", values: [round3(i.usageKwh)] },
              { type: "DEMAND", values: [round3(i.demandKw)] },
            ],
          })),
        },
      ],
    };
    await this.send({ method: "POST", path: "/reports", body });
  }

  private async get(path: string): Promise<unknown> {
    return this.send({ method: "GET", path });
  }

  private async send(req: VtnRequest, retried = false): Promise<unknown> {
    const { method, path, body } = req;
    const token = await this.bearer();
    const res = await this.fetchWithDeadline(`${this.base}${path}`, {
      method,
      headers: {
        accept: "application/json",
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status === 401 && !retried && this.auth.clientId) {
      // expired or revoked on the VTN: one new token, one retry
      this.token = null;
      return this.send(req, true);
    }
    const text = await res.text();
    if (!res.ok)
      throw new VtnError(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 200)}`, res.status);
    if (text === "") return null;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new VtnError(`${method} ${path}: reply is not JSON`, res.status);
    }
  }

  private async bearer(): Promise<string | null> {
    if (this.auth.token) return this.auth.token;
    if (!this.auth.clientId || !this.auth.clientSecret) return null;
    if (this.token && this.token.expiresAt - TOKEN_MARGIN_MS > this.now()) return this.token.value;
    let url = this.auth.tokenUrl;
    if (!url) {
      const res = await this.fetchWithDeadline(`${this.base}/auth/server`, { method: "GET" });
      if (!res.ok) throw new VtnError(`GET /auth/server: HTTP ${res.status}`, res.status);
      url = AuthServerSchema.parse(await res.json()).tokenURL;
    }
    const form = new URLSearchParams({
      grant_type: "client_credentials",
      client_id: this.auth.clientId,
      client_secret: this.auth.clientSecret,
    });
    const res = await this.fetchWithDeadline(url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: form.toString(),
    });
    if (!res.ok) throw new VtnError(`token: HTTP ${res.status} (check clientId and the secret)`, res.status);
    const t = TokenSchema.parse(await res.json());
    this.token = { value: t.access_token, expiresAt: this.now() + (t.expires_in ?? 3600) * 1000 };
    return t.access_token;
  }

  private async fetchWithDeadline(url: string, init: RequestInit): Promise<Response> {
    const f = this.opts.fetch ?? fetch;
    try {
      return await f(url, {
        ...init,
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? DEFAULT_OADR_TIMEOUT_MS),
      });
    } catch (err) {
      const e = err as Error;
      throw new VtnError(
        `${init.method ?? "GET"} ${url}: ${e.name === "TimeoutError" ? "no answer in time" : e.message}`,
        null,
      );
    }
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Milliseconds as an ISO 8601 duration in seconds ("PT900S"). */
function isoSeconds(ms: number): string {
  return `PT${Math.round(ms / 1000)}S`;
}
