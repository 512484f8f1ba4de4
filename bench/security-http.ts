// `npm run security` cases over HTTP: login guessing from many addresses (item
// 6), refused POSTs and what they cost the database (item 4), live-update
// streams (item 5), and half-open or trickling connections (item 2).
import { request } from "node:http";
import { storeBytes } from "../agent/store/size.ts";
import { loadPage, metricValue } from "./flood-client.ts";
import { HalfOpenFlood, SseFlood, sleep, sourceAddresses } from "./flood-tools.ts";
import { counts, type SecurityCase } from "./security-case.ts";
import { PASSWORD, type Target } from "./security-target.ts";

function loginCase(t: Target): SecurityCase {
  return {
    item: "6 login",
    name: "300 guesses from 100 addresses",
    run: async () => {
      const laptop = "127.68.9.1";
      const login = (password: string, from: string) =>
        t.http("POST", "/api/login", { body: { name: "tech", password }, headers: { origin: t.base }, from });
      const control = (await login(PASSWORD, laptop)).status === 200;
      const c = counts(false);
      let limited = 0;
      const from = sourceAddresses("127.68.0", 100);
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 100; i++) {
          const r = await login(`guess-${round}-${i}`, from[i]!);
          c.attempted++;
          if (r.status === 200) c.applied++;
          else c.refused++;
          if (r.status === 429) limited++;
        }
      }
      const known = (await login(PASSWORD, laptop)).status;
      const fresh = await login(PASSWORD, "127.68.9.2");
      return {
        ...c,
        expectedReason: limited,
        note: `${limited} met 429; operator at a known address during the attack: ${known}, before it: ${control ? 200 : "FAILED"}; a new address told to wait ${fresh.headers["retry-after"] ?? "0"} s`,
      };
    },
  };
}

function storageCase(t: Target): SecurityCase {
  const { site, base } = t;
  return {
    item: "4 storage",
    name: "2,000 refused POSTs",
    run: async () => {
      const t0 = Date.now();
      const bytesBefore = storeBytes(t.dbPath);
      const audited0 = site.audit!.refusalCount();
      const c = counts(false);
      const from = sourceAddresses("127.69.0", 4);
      const shapes: Array<{ path: string; body: unknown; headers: Record<string, string> }> = [
        { path: "/api/actions", body: { kind: "mode", mode: "hold" }, headers: { origin: base } },
        { path: "/api/login", body: { name: "tech", password: "nope" }, headers: { origin: base } },
        {
          path: "/api/login",
          body: { name: "tech", password: "x" },
          headers: { origin: "http://evil.example" },
        },
        {
          path: "/api/actions",
          body: { kind: "mode", mode: "hold" },
          headers: { origin: base, cookie: "wk_session=forged" },
        },
      ];
      const one = async (i: number) => {
        const s = shapes[i % shapes.length]!;
        const r = await t.http("POST", s.path, {
          body: s.body,
          headers: s.headers,
          from: from[i % from.length],
        });
        c.attempted++;
        if (r.status >= 400) c.refused++;
        else c.applied++;
      };
      for (let i = 0; i < 2000; i += 20) await Promise.all(Array.from({ length: 20 }, (_, j) => one(i + j)));
      const audited = site.audit!.refusalCount() - audited0;
      // the rows these refusals went into: new ones, or this minute's rows they joined
      const rows = site.audit!.recent(100_000).filter((a) => !a.ok && a.lastAt >= t0).length;
      const kib = ((storeBytes(t.dbPath) - bytesBefore) / 1024).toFixed(0);
      return { ...c, note: `${audited} audited in ${rows} rows; database (with WAL) +${kib} KiB` };
    },
  };
}

/** Whether a new client's stream opens and a tick summary arrives within 5 s. */
function freshStream(base: string, localAddress: string): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const req = request(new URL("/api/stream", base), { localAddress, agent: false }, (res) => {
      if (res.statusCode !== 200) return resolve(false);
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        if (d.includes("event: site")) {
          req.destroy();
          resolve(true);
        }
      });
    });
    req.on("error", () => resolve(false));
    setTimeout(() => {
      req.destroy();
      resolve(false);
    }, 5000);
    req.end();
  });
}

function streamsCase(t: Target): SecurityCase {
  return {
    item: "5 streams",
    name: "32 SSE streams from one address + 32 from 8",
    run: async () => {
      const one = new SseFlood({ base: t.base, streams: 32, sources: ["127.70.0.1"] });
      const many = new SseFlood({ base: t.base, streams: 32, sources: sourceAddresses("127.70.1", 8) });
      one.start();
      many.start();
      let maxHeld = 0;
      for (let i = 0; i < 16; i++) {
        await sleep(250);
        maxHeld = Math.max(maxHeld, metricValue(await t.metrics(), "wattkeeper_http_sse_clients") ?? 0);
      }
      const fresh = await freshStream(t.base, "127.70.9.1");
      one.stop();
      many.stop();
      const s1 = one.stats;
      const s2 = many.stats;
      return {
        attempted: s1.opened + s1.refused + s2.opened + s2.refused,
        refused: s1.closedByAgent + s1.refused + s2.closedByAgent + s2.refused,
        applied: Math.max(0, maxHeld - 32),
        expectedReason: null,
        note: `at most ${maxHeld} streams held (cap 32, 4 per address); a new client's stream ${fresh ? "opened and got the tick" : "FAILED"}`,
      };
    },
  };
}

function halfOpenCase(t: Target, connections: number): SecurityCase {
  return {
    item: "2 connections",
    name: `${connections.toLocaleString("en")} half-open connections from 50 addresses`,
    run: async () => {
      const flood = new HalfOpenFlood({
        host: "127.0.0.1",
        port: t.httpPort,
        connections,
        sources: sourceAddresses("127.71.0", 50),
        trickleMs: 5000,
        reopenMs: 1000,
        rampPerS: 5000,
      });
      const cap = metricValue(await t.metrics(), "wattkeeper_http_connection_limit") ?? 0;
      void flood.start();
      let maxHeld = 0;
      let pagesOk = 0;
      let pages = 0;
      for (let i = 0; i < 8; i++) {
        await sleep(1000);
        maxHeld = Math.max(maxHeld, metricValue(await t.metrics(), "wattkeeper_http_connections") ?? 0);
        const p = await loadPage(t.base, `127.71.9.${i + 1}`);
        pages++;
        if (p.ok) pagesOk++;
      }
      await flood.stop();
      const s = flood.stats;
      return {
        attempted: s.connected,
        refused: s.closedAtOnce + s.closedWith408,
        applied: Math.max(0, maxHeld - cap),
        expectedReason: null,
        note: `cap ${cap}, at most ${maxHeld} held; ${s.closedAtOnce} closed at once; pages loaded by new clients ${pagesOk}/${pages}`,
      };
    },
  };
}

function trickleCase(t: Target): SecurityCase {
  return {
    item: "2 connections",
    name: "headers trickled every 2 s",
    run: async () => {
      const c = counts();
      const from = sourceAddresses("127.72.0", 4);
      const socks = await Promise.all(
        Array.from({ length: 100 }, (_, i) => {
          const s = new HalfOpenFlood({
            host: "127.0.0.1",
            port: t.httpPort,
            connections: 1,
            sources: [from[i % 4]!],
            trickleMs: 2000,
            reopenMs: 60_000,
            rampPerS: 1000,
          });
          void s.start();
          return s;
        }),
      );
      // the header deadline (10 s by default) holds within a second or so
      await sleep(13_000);
      for (const s of socks) {
        const st = s.stats;
        c.attempted += st.connected;
        c.refused += st.closedWith408 + st.closedAtOnce;
        c.expectedReason! += st.closedWith408;
        c.applied += st.open;
        await s.stop();
      }
      return { ...c, note: "closed with 408 by the 10 s header deadline" };
    },
  };
}

/** In the order the table lists them. */
export function httpCases(t: Target, o: { floodConnections: number }): SecurityCase[] {
  return [loginCase(t), storageCase(t), streamsCase(t), halfOpenCase(t, o.floodConnections), trickleCase(t)];
}
