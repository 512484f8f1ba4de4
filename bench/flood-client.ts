// A new client of the agent under a flood, shared by `npm run flood`, `npm run
// security` and the short integration test: the status page loaded the way
// the browser loads it (timed), the site view from a fresh connection, and one
// metric read from the exposition text.
import { Agent as HttpAgent, type IncomingMessage, request } from "node:http";

export interface PageLoad {
  ok: boolean;
  ms: number;
  /** Per resource: status, or the error. */
  detail: Record<string, number | string>;
}

/** What the status page fetches when it opens (index.html, its files, its first API calls). */
export const PAGE_RESOURCES = [
  "/",
  "/style.css",
  "/app.js",
  "/vendor/uPlot.min.css",
  "/vendor/uPlot.iife.min.js",
  "/api/session",
  "/api/site",
  "/api/devices?view=grid",
  "/api/events?limit=50",
  "/api/history?minutes=180",
] as const;

function get(url: URL, agent: HttpAgent, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, timeout: timeoutMs }, (res: IncomingMessage) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end();
  });
}

/** Loads the page as a browser would: index first, then the rest six at a time, on fresh connections. */
export async function loadPage(base: string, localAddress: string, timeoutMs = 10_000): Promise<PageLoad> {
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 6, localAddress });
  const detail: Record<string, number | string> = {};
  const t0 = performance.now();
  const one = async (path: string) => {
    const t = performance.now();
    try {
      const status = await get(new URL(path, base), agent, timeoutMs);
      const ms = Math.round(performance.now() - t);
      // a slow resource says how slow; the status alone otherwise
      detail[path] = status === 200 && ms >= 500 ? `200 in ${ms} ms` : status;
    } catch (err) {
      detail[path] = (err as Error).message;
    }
  };
  try {
    await one(PAGE_RESOURCES[0]);
    await Promise.all(PAGE_RESOURCES.slice(1).map(one));
  } finally {
    agent.destroy();
  }
  const ms = Math.round(performance.now() - t0);
  const ok = Object.values(detail).every((s) => s === 200 || (typeof s === "string" && s.startsWith("200 ")));
  return { ok, ms, detail };
}

/** `/api/site` from a fresh connection: the agent's own view of its devices. */
export async function siteView(base: string, localAddress: string): Promise<Record<string, unknown> | null> {
  const agent = new HttpAgent({ keepAlive: false, localAddress });
  try {
    return await new Promise((resolve, reject) => {
      const req = request(new URL("/api/site", base), { agent, timeout: 10_000 }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          text += d;
        });
        res.on("end", () => {
          try {
            resolve(JSON.parse(text) as Record<string, unknown>);
          } catch {
            resolve(null);
          }
        });
      });
      req.on("timeout", () => req.destroy(new Error("timed out")));
      req.on("error", reject);
      req.end();
    });
  } catch {
    return null;
  } finally {
    agent.destroy();
  }
}

/** One metric's value from the exposition text (the first series matching the labels). */
export function metricValue(text: string, name: string, labels = ""): number | null {
  const re = new RegExp(`^${name}${labels ? `\\{${labels}\\}` : "(?:\\{[^}]*\\})?"} (\\S+)$`, "m");
  const m = re.exec(text);
  return m ? Number(m[1]) : null;
}
