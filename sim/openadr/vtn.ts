// A small OpenADR 3 VTN for the simulated site, scenarios and tests: OAuth2
// client credentials (POST /auth/token, GET /auth/server), programs, events and
// reports over HTTP/JSON in the 3.1.1 shapes, and a control API for the test
// (add a program, put or delete an event, read the reports that came in).
// Its own code; the agent's VEN never shares it.
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

interface VtnProgram {
  id: string;
  programName: string;
}

interface VtnEventInput {
  id?: string;
  programID: string;
  eventName?: string;
  intervalPeriod?: { start?: string; duration?: string; randomizeStart?: string };
  payloadDescriptors?: Array<{ objectType?: string; payloadType: string; units?: string }>;
  intervals: Array<{
    id: number;
    intervalPeriod?: { start?: string; duration?: string; randomizeStart?: string };
    payloads: Array<{ type: string; values: unknown[] }>;
  }>;
}

export interface VtnSim {
  url: string;
  addProgram(name: string): VtnProgram;
  putEvent(e: VtnEventInput): string;
  deleteEvent(id: string): void;
  reports(): Array<Record<string, unknown>>;
  /** Requests seen, "METHOD /path" (tests). */
  requests(): string[];
  /** Answer nothing until cleared (a VTN down). */
  setDown(down: boolean): void;
  stop(): Promise<void>;
}

export async function startVtnSim(opts: {
  host?: string;
  port?: number;
  clients: Record<string, string>;
  tokenTtlS?: number;
}): Promise<VtnSim> {
  const host = opts.host ?? "127.0.0.1";
  const tokens = new Map<string, number>();
  const programs: Array<VtnProgram & { createdDateTime: string; modificationDateTime: string }> = [];
  const events = new Map<string, Record<string, unknown>>();
  const reports: Array<Record<string, unknown>> = [];
  const seen: string[] = [];
  let down = false;
  let n = 0;
  const stamp = () => new Date().toISOString();

  const send = (res: ServerResponse, status: number, body?: unknown) => {
    const text = body === undefined ? "" : JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    res.end(text);
  };
  const problem = (res: ServerResponse, status: number, title: string) =>
    send(res, status, { type: "about:blank", title, status, detail: title });
  const body = (req: IncomingMessage) =>
    new Promise<string>((resolve) => {
      let b = "";
      req.on("data", (c) => {
        b += c;
      });
      req.on("end", () => resolve(b));
    });
  const authorized = (req: IncomingMessage) => {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? "");
    const exp = m ? tokens.get(m[1]!) : undefined;
    return exp !== undefined && exp > Date.now();
  };

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://vtn");
    seen.push(`${req.method} ${url.pathname}`);
    if (down) {
      req.socket.destroy();
      return;
    }
    if (url.pathname === "/auth/server" && req.method === "GET") {
      return send(res, 200, {
        tokenURL: `http://${host}:${(server.address() as { port: number }).port}/auth/token`,
      });
    }
    if (url.pathname === "/auth/token" && req.method === "POST") {
      const form = new URLSearchParams(await body(req));
      if (form.get("grant_type") !== "client_credentials")
        return send(res, 400, { error: "unsupported_grant_type" });
      const id = form.get("client_id") ?? "";
      if (opts.clients[id] === undefined || opts.clients[id] !== form.get("client_secret")) {
        return send(res, 401, { error: "invalid_client" });
      }
      const token = randomBytes(24).toString("base64url");
      const ttl = opts.tokenTtlS ?? 3600;
      tokens.set(token, Date.now() + ttl * 1000);
      return send(res, 200, { access_token: token, token_type: "Bearer", expires_in: ttl });
    }
    if (!authorized(req)) return problem(res, 401, "missing or expired token");
    const skip = Number(url.searchParams.get("skip") ?? 0);
    const limit = Number(url.searchParams.get("limit") ?? 50);
    if (url.pathname === "/programs" && req.method === "GET") {
      return send(
        res,
        200,
        programs.slice(skip, skip + limit).map((p) => ({ ...p, objectType: "PROGRAM" })),
      );
    }
    if (url.pathname === "/events" && req.method === "GET") {
      const pid = url.searchParams.get("programID");
      const list = [...events.values()].filter((e) => pid === null || e.programID === pid);
      return send(res, 200, list.slice(skip, skip + limit));
    }
    if (url.pathname === "/reports" && req.method === "POST") {
      let r: Record<string, unknown>;
      try {
        r = JSON.parse(await body(req)) as Record<string, unknown>;
      } catch {
        return problem(res, 400, "not JSON");
      }
      if (typeof r.eventID !== "string" || typeof r.clientName !== "string" || !Array.isArray(r.resources)) {
        return problem(res, 400, "a report needs eventID, clientName and resources");
      }
      const now = stamp();
      const stored = {
        ...r,
        id: `report-${++n}`,
        createdDateTime: now,
        modificationDateTime: now,
        objectType: "REPORT",
        clientID: "ven",
      };
      reports.push(stored);
      return send(res, 201, stored);
    }
    return problem(res, 404, `no route ${req.method} ${url.pathname}`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;

  return {
    url: `http://${host}:${port}`,
    addProgram(name) {
      const now = stamp();
      const p = { id: `program-${++n}`, programName: name, createdDateTime: now, modificationDateTime: now };
      programs.push(p);
      return { id: p.id, programName: p.programName };
    },
    putEvent(e) {
      const id = e.id ?? `event-${++n}`;
      const now = stamp();
      const prev = events.get(id);
      events.set(id, {
        ...e,
        id,
        objectType: "EVENT",
        createdDateTime: (prev?.createdDateTime as string | undefined) ?? now,
        modificationDateTime: now,
      });
      return id;
    },
    deleteEvent: (id) => events.delete(id),
    reports: () => [...reports],
    requests: () => [...seen],
    setDown: (d) => {
      down = d;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
