// The read-only routes: site summary, devices (full, or the compact grid the
// page polls), one device in full, problems, events, history, /healthz and
// /metrics. Every query and path parameter is validated with zod; a bad one
// is a 400 with the reason.

import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import { problemsOf } from "../site/problems.ts";
import { HISTORY_KEEP_MS } from "../store/history.ts";
import type { SiteMetrics } from "./prometheus.ts";
import { HttpError, sendJson, sendPieces } from "./respond.ts";
import type { DevicesView, HttpSite } from "./types.ts";

const EventsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
const HistoryQuery = z.strictObject({
  minutes: z.coerce
    .number()
    .int()
    .min(1)
    .max(HISTORY_KEEP_MS / 60_000)
    .default(180),
});
const DevicesQuery = z.strictObject({ view: z.enum(["full", "grid"]).default("full") });
/** The id in `/api/devices/<id>`: as the config allows ids, no path separators. */
const DeviceId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[^/\s]+$/, "not a device id");

/** The prefix of the one-device route; what follows it is the (URL-encoded) device id. */
export const DEVICE_DETAIL_PREFIX = "/api/devices/";

function parseQuery<T extends z.ZodType>(schema: T, url: URL): z.infer<T> {
  const r = schema.safeParse(Object.fromEntries(url.searchParams));
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new HttpError(400, `${i.path.join(".") || "query"}: ${i.message}`);
  }
  return r.data;
}

/** One row per miner, field order as in `minerFields`: ~60 bytes a miner instead of ~1 KiB. */
const GRID_FIELDS = [
  "id",
  "location",
  "state",
  "tempC",
  "powerW",
  "hashrateThs",
  "excluded",
  "model",
  "reason",
] as const;

function gridView(d: DevicesView) {
  return {
    minerFields: GRID_FIELDS,
    miners: d.miners.map((m) => {
      const r = m as typeof m & {
        chipTempMaxC?: number | null;
        boardTempsC?: number[];
        powerW?: number | null;
        hashrateThs?: number | null;
        model?: string | null;
        reason?: string | null;
      };
      const temp = r.chipTempMaxC ?? (r.boardTempsC?.length ? Math.max(...r.boardTempsC) : null);
      return [
        m.id,
        m.location ?? "",
        m.state,
        temp === null ? null : Math.round(temp),
        r.powerW == null ? null : Math.round(r.powerW),
        // four significant digits: compact for the grid, and a 2 MH/s device is not 0
        r.hashrateThs == null ? null : Number(r.hashrateThs.toPrecision(4)),
        m.excluded,
        r.model ?? null,
        r.reason ?? null,
      ];
    }),
    gpuNodes: d.gpuNodes,
    meters: d.meters,
  };
}

export interface ReadRoutesDeps {
  site: HttpSite;
  metrics: SiteMetrics;
}

/** The read-only handlers, by name (their paths: routes.ts). */
export type ReadHandlers = ReturnType<typeof readHandlers>;

export function readHandlers({ site, metrics }: ReadRoutesDeps) {
  return {
    site: (_req: IncomingMessage, res: ServerResponse) => sendJson(res, 200, site.siteView()),
    devices: (_req: IncomingMessage, res: ServerResponse, url: URL) => {
      const q = parseQuery(DevicesQuery, url);
      const d = site.devicesView();
      sendJson(res, 200, q.view === "grid" ? gridView(d) : d);
    },
    problems: (_req: IncomingMessage, res: ServerResponse) => {
      sendJson(res, 200, { problems: problemsOf(site) });
    },
    events: (_req: IncomingMessage, res: ServerResponse, url: URL) => {
      const q = parseQuery(EventsQuery, url);
      sendJson(res, 200, { events: site.recentEvents(q.limit) });
    },
    history: (_req: IncomingMessage, res: ServerResponse, url: URL) => {
      const q = parseQuery(HistoryQuery, url);
      sendJson(res, 200, { minutes: q.minutes, points: site.history(q.minutes) });
    },
    healthz: (_req: IncomingMessage, res: ServerResponse) => {
      const reason = site.unhealthyReason();
      sendJson(res, reason ? 503 : 200, reason ? { ok: false, reason } : { ok: true });
    },
    metrics: async (_req: IncomingMessage, res: ServerResponse) => {
      sendPieces(res, 200, {
        pieces: await metrics.scrapePieces(),
        type: metrics.contentType,
        headers: { "cache-control": "no-store" },
      });
    },
    deviceDetail: deviceDetailRoute(site),
  };
}

/** `GET /api/devices/<id>`: one device in full, or 404. */
function deviceDetailRoute(site: HttpSite) {
  return (_req: IncomingMessage, res: ServerResponse, url: URL) => {
    let raw: string;
    try {
      raw = decodeURIComponent(url.pathname.slice(DEVICE_DETAIL_PREFIX.length));
    } catch {
      throw new HttpError(400, "device id: bad URL encoding");
    }
    const r = DeviceId.safeParse(raw);
    if (!r.success) throw new HttpError(400, `device id: ${r.error.issues[0]!.message}`);
    const detail = site.deviceDetail?.(r.data) ?? null;
    if (!detail) throw new HttpError(404, `no such device: ${r.data}`);
    sendJson(res, 200, detail);
  };
}
