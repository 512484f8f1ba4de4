// The one route table of the HTTP endpoint: method + path → handler, and for
// a route with a body, the zod schema of that body. The handlers live beside
// what they serve (api.ts: the read-only API, operator.ts: login and actions,
// the server: the live stream); every URL the endpoint answers is listed here.
// A handler with a body reads it when its own checks allow (after the login
// rate limit, after the session and CSRF checks), through the reader the table
// built from its schema, so the order of refusals stays the handler's.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { z } from "zod";
import { DEVICE_DETAIL_PREFIX, type ReadHandlers } from "./api.ts";
import { ActionBodySchema, LoginSchema, MAX_BODY_BYTES, type OperatorRoutes } from "./operator.ts";
import { type BodyReader, readJson } from "./respond.ts";

export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;

/** A route with a body: it reads the body through `body` when its own checks allow. */
type BodyHandler<T> = (
  req: IncomingMessage,
  res: ServerResponse,
  body: BodyReader<T>,
) => void | Promise<void>;

export interface Route {
  method: "GET" | "POST";
  path: string;
  /** The path is a prefix; what follows it is the route's parameter. */
  prefix?: boolean;
  /** The body's schema, for a route that takes one. */
  body?: z.ZodType;
  handle: Handler;
}

const get = (path: string, handle: Handler): Route => ({ method: "GET", path, handle });

function post<S extends z.ZodType>(path: string, body: S, handle: BodyHandler<z.infer<S>>): Route {
  const reader = (req: IncomingMessage) => async () => {
    const raw = await readJson(req, MAX_BODY_BYTES);
    return { raw, parsed: body.safeParse(raw) as z.ZodSafeParseResult<z.infer<S>> };
  };
  return { method: "POST", path, body, handle: (req, res) => handle(req, res, reader(req)) };
}

export interface RouteDeps {
  read: ReadHandlers;
  operator: OperatorRoutes;
  /** `GET /api/stream`: the live updates (SSE). */
  stream: Handler;
}

export function routeTable({ read, operator: op, stream }: RouteDeps): Route[] {
  return [
    get("/api/site", read.site),
    get("/api/devices", read.devices),
    { method: "GET", path: DEVICE_DETAIL_PREFIX, prefix: true, handle: read.deviceDetail },
    get("/api/problems", read.problems),
    get("/api/events", read.events),
    get("/api/history", read.history),
    get("/healthz", read.healthz),
    get("/metrics", read.metrics),
    get("/api/session", op.session),
    get("/api/stream", stream),
    post("/api/login", LoginSchema, op.login),
    { method: "POST", path: "/api/logout", handle: op.logout },
    post("/api/actions", ActionBodySchema, op.actions),
  ];
}

/** Finds a request's route; HEAD is served by the GET route. */
export class Router {
  constructor(private readonly routes: readonly Route[]) {}

  private matching(path: string): Route[] {
    return this.routes.filter((r) => (r.prefix ? path.startsWith(r.path) : r.path === path));
  }

  handler(method: string, path: string): Handler | undefined {
    const m = method === "HEAD" ? "GET" : method;
    return this.matching(path).find((r) => r.method === m)?.handle;
  }

  /** The methods a path answers, as an Allow header lists them (empty: no route has the path). */
  allowed(path: string): string[] {
    const methods = new Set(this.matching(path).map((r) => r.method));
    return [methods.has("GET") && "GET, HEAD", methods.has("POST") && "POST"].filter(
      (x): x is string => typeof x === "string",
    );
  }
}
