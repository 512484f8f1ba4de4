// The read side of the HTTP layer: SSE (live events, Last-Event-ID catch-up,
// heartbeat, bounded clients), /metrics names, /healthz 503 when stalled,
// /api/history and /api/events, the page's own files, 404/405. A Site on the
// simulator for what must hold end to end; a stand-in site where the test
// needs to control time or health.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { gunzipSync } from "node:zlib";
import { HttpServer, type SiteView } from "../../agent/http/server.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import type { Site } from "../../agent/site/site.ts";
import type { SiteEvent } from "../../agent/store/events.ts";
import { testPort, waitFor } from "../helpers/ports.ts";
import { type SimSite, startSimSite } from "../helpers/sim-site.ts";
import { standInSite } from "../helpers/stand-in-site.ts";
import { call, openStream } from "./http-helpers.ts";

describe("on the simulator", () => {
  let site: Site;
  let base: string;
  let running: SimSite;

  before(async () => {
    running = await startSimSite(
      "http-live",
      `site: { id: httplive, timezone: UTC, contractLimitW: 1MW }
store: { path: ./state.db }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${await testPort()}", unitId: 1 } }
miners:
  - { hosts: 127.80.1.1-127.80.1.8, location: row-2 }
control: { tickS: 0.5 }
sim: { seed: 12, noiseW: 10, auxW: 2kW }
`,
    );
    ({ site, base } = running);
    await waitFor("miners hashing and a meter reading", () => {
      const s = site.snapshot();
      return s.counts.hashing === 8 && s.powerSource === "meter";
    });
  });
  after(() => running.stop());

  test("SSE delivers the tick summary and a new event live, and replays missed events after Last-Event-ID", async () => {
    const s = await openStream(base);
    try {
      assert.equal(s.res.statusCode, 200);
      assert.match(String(s.res.headers["content-type"]), /^text\/event-stream/);
      const tick = await waitFor("a site frame", () => s.frames.find((f) => f.event === "site"));
      assert.equal((JSON.parse(tick.data) as SiteView).siteId, "httplive");
      site.setMode("hold", { via: "local", who: "test" });
      const ev = await waitFor("the mode-changed event", () =>
        s.frames.find(
          (f) => f.event === "event" && (JSON.parse(f.data) as SiteEvent).kind === "mode-changed",
        ),
      );
      const stored = JSON.parse(ev.data) as SiteEvent;
      assert.equal(ev.id, String(stored.id));
      site.setMode("auto", { via: "local", who: "test" });
      s.close();

      // a browser that reconnects sends the last id it saw and first gets what it missed
      const again = await openStream(base, { headers: { "last-event-id": String(stored.id - 1) } });
      try {
        const replayed = await waitFor("the replay", () =>
          again.frames.filter((f) => f.event === "event").length >= 2 ? again.frames : null,
        );
        const events = replayed
          .filter((f) => f.event === "event")
          .map((f) => JSON.parse(f.data) as SiteEvent);
        assert.equal(events[0]!.id, stored.id);
        assert.deepEqual(
          events.slice(0, 2).map((e) => e.data?.mode),
          ["hold", "auto"],
        );
      } finally {
        again.close();
      }
    } finally {
      s.close();
    }
  });

  test("/api/problems: stock miners without web credentials cannot be shed, and it says how to fix that", async () => {
    const r = await call(base, "GET", "/api/problems");
    assert.equal(r.status, 200);
    const problems = (r.json as { problems: Array<{ kind: string; message: string; fix: string }> }).problems;
    assert.ok(problems.length > 0);
    for (const p of problems) {
      assert.equal(p.kind, "cannot-shed", JSON.stringify(p));
      assert.match(p.message, /no web credentials/);
      assert.match(p.fix, /miners\[\]\.credentials/);
    }
  });

  test("/metrics has the documented names with the snapshot's values", async () => {
    const r = await call(base, "GET", "/metrics");
    assert.equal(r.status, 200);
    assert.match(String(r.headers["content-type"]), /^text\/plain/);
    for (const name of [
      "wattkeeper_site_power_watts ",
      "wattkeeper_budget_watts 1000000",
      'wattkeeper_class_power_watts{class="mining"}',
      'wattkeeper_devices{class="mining",state="hashing"} 8',
      'wattkeeper_devices{class="meter",state="ok"} 1',
      'wattkeeper_device_power_watts{id="m-127-80-1-1",class="mining"}',
      "wattkeeper_outbox_messages 0",
      "wattkeeper_tick_duration_seconds_bucket",
      'wattkeeper_poll_duration_seconds_bucket{le="0.05",driver="cgminer"}',
      // 8 miners: all 8 read at once, whatever the pool's size
      'wattkeeper_poll_reads_in_flight_max{driver="cgminer"} 8',
      'wattkeeper_poll_loop_busy_ratio{driver="cgminer"} ',
      "# TYPE wattkeeper_commands_total counter",
      "wattkeeper_healthy 1",
      // zero-filled, so alert rules compare values rather than test for absent series
      'wattkeeper_budget_source{source="contract"} 1',
      'wattkeeper_budget_source{source="signal"} 0',
      'wattkeeper_alarm{code="over-budget"} 0',
      'wattkeeper_devices{class="mining",state="unreachable"} 0',
      'wattkeeper_problems{kind="unreachable",severity="warning"} 0',
    ]) {
      assert.ok(r.text.includes(name), `missing ${name}`);
    }
    const power = Number(/^wattkeeper_site_power_watts (\S+)$/m.exec(r.text)![1]);
    assert.ok(power > 8 * 2000 && power < 8 * 5000, `site power ${power}`);
    // no MQTT configured: no broker gauge at all rather than a made-up 0
    assert.doesNotMatch(r.text, /^wattkeeper_broker_connected /m);
    // no GPU nodes configured: no poll-duration series for a driver that polls nothing
    assert.doesNotMatch(r.text, /wattkeeper_poll_duration_seconds\w*\{[^}]*driver="nvidia"/);
    await waitFor("a gateway sample", () => site.gatewayHealth());
    const again = await call(base, "GET", "/metrics");
    assert.match(again.text, /^wattkeeper_gateway_uptime_seconds \d+/m);
    assert.match(again.text, /^wattkeeper_gateway_memory_total_bytes \d+/m);
    // built from pieces into one buffer: as is or gzipped when asked, with its length; HEAD without a body
    assert.equal(Number(again.headers["content-length"]), again.bytes.length);
    const gz = await call(base, "GET", "/metrics", { headers: { "accept-encoding": "gzip" } });
    assert.equal(gz.headers["content-encoding"], "gzip");
    assert.equal(Number(gz.headers["content-length"]), gz.bytes.length);
    const unzipped = gunzipSync(gz.bytes).toString("utf8");
    assert.match(unzipped, /^wattkeeper_devices\{class="mining",state="hashing"\} 8$/m);
    assert.ok(unzipped.endsWith("\n"));
    const head = await call(base, "HEAD", "/metrics");
    assert.equal(head.status, 200);
    assert.equal(head.bytes.length, 0);
  });

  test("/api/history fills from the ticks; /api/events lists events newest first; bad queries are 400", async () => {
    const h = await waitFor("a history point", async () => {
      const r = await call(base, "GET", "/api/history?minutes=5");
      const pts = r.json.points as Array<{ at: number; powerW: number | null; budgetW: number }>;
      return pts.some((p) => p.powerW !== null) && r.json;
    });
    assert.equal(h.minutes, 5);
    const pts = h.points as Array<{ at: number; powerW: number; budgetW: number }>;
    assert.ok(pts.length >= 1 && pts.length <= 31);
    // a bucket is the mean of its ticks: the failsafe budget of the first ticks (no meter yet) may be in it
    const lastBudget = pts.at(-1)!.budgetW;
    assert.ok(lastBudget > 0 && lastBudget <= 1_000_000, `budget ${lastBudget}`);
    const week = await call(base, "GET", "/api/history?minutes=10080");
    assert.ok((week.json.points as unknown[]).length <= 601);
    assert.equal((await call(base, "GET", "/api/history?minutes=0")).status, 400);
    assert.equal((await call(base, "GET", "/api/history?minutes=abc")).status, 400);
    assert.equal((await call(base, "GET", "/api/history?minutes=5&x=1")).status, 400);

    site.setMode("hold", { via: "local", who: "test" });
    site.setMode("auto", { via: "local", who: "test" });
    const ev = await call(base, "GET", "/api/events?limit=2");
    const events = ev.json.events as SiteEvent[];
    assert.equal(events.length, 2);
    assert.ok(events[0]!.id > events[1]!.id);
    assert.equal(events[0]!.data?.mode, "auto");
    assert.equal((await call(base, "GET", "/api/events?limit=100000")).status, 400);
  });

  test("the page and its files are served by the agent (uPlot included), with ETag revalidation", async () => {
    const page = await call(base, "GET", "/");
    assert.equal(page.status, 200);
    assert.match(String(page.headers["content-type"]), /^text\/html/);
    assert.match(String(page.headers["content-security-policy"]), /default-src 'self'/);
    assert.match(page.text, /\/vendor\/uPlot\.iife\.min\.js/);
    for (const path of ["/app.js", "/style.css", "/vendor/uPlot.iife.min.js", "/vendor/uPlot.min.css"]) {
      const r = await call(base, "GET", path);
      assert.equal(r.status, 200, path);
      const etag = String(r.headers.etag);
      const cached = await call(base, "GET", path, { headers: { "if-none-match": etag } });
      assert.equal(cached.status, 304, path);
    }
    const gz = await call(base, "GET", "/vendor/uPlot.iife.min.js", {
      headers: { "accept-encoding": "gzip" },
    });
    assert.equal(gz.headers["content-encoding"], "gzip");
    assert.equal((await call(base, "GET", "/../package.json")).status, 404);
    assert.equal((await call(base, "GET", "/api/nope")).status, 404);
    const post = await call(base, "POST", "/api/site", { body: {} });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, "GET, HEAD");
    assert.equal((await call(base, "GET", "/api/login")).status, 405);
    assert.equal((await call(base, "DELETE", "/")).status, 405);
  });

  test("the compact grid view carries every miner in a few bytes each", async () => {
    const r = await call(base, "GET", "/api/devices?view=grid");
    const fields = r.json.minerFields as string[];
    const rows = r.json.miners as unknown[][];
    assert.equal(rows.length, 8);
    const row = rows.find((x) => x[fields.indexOf("id")] === "m-127-80-1-1")!;
    assert.equal(row[fields.indexOf("state")], "hashing");
    assert.equal(row[fields.indexOf("location")], "row-2");
    assert.equal((await call(base, "GET", "/api/devices?view=bogus")).status, 400);
  });
});

/** A site whose health, events and ticks the test controls. */
function fakeSite() {
  const events: SiteEvent[] = [];
  const eventFns = new Set<(e: SiteEvent) => void>();
  const health: { reason: string | null } = { reason: null };
  const f = {
    health,
    events,
    emit(message: string) {
      const e: SiteEvent = {
        id: events.length + 1,
        at: Date.now(),
        kind: "test",
        severity: "info",
        deviceId: null,
        message,
        data: null,
      };
      events.push(e);
      for (const fn of eventFns) fn(e);
    },
    site: standInSite(
      {
        unhealthyReason: () => health.reason,
        recentEvents: (n: number) => events.slice(-n).reverse(),
        eventsAfter: (id: number) => events.filter((e) => e.id > id),
        onEvent: (fn: (e: SiteEvent) => void) => {
          eventFns.add(fn);
          return () => eventFns.delete(fn);
        },
      },
      { siteId: "fake", budgetW: 1000, broker: { connected: false, outboxMessages: 42 } },
    ),
  };
  return f;
}

describe("with a stand-in site", () => {
  let server: HttpServer;
  let base: string;
  const fake = fakeSite();

  before(async () => {
    server = new HttpServer({
      host: "127.0.0.1",
      port: 0,
      site: fake.site,
      logger: silentLogger(),
      sse: { maxClients: 2, heartbeatMs: 100 },
    });
    await server.start();
    base = `http://127.0.0.1:${server.address()!.port}`;
  });
  after(() => server.stop());

  test("/healthz is 200 while the loop ticks and 503 with the reason when it stalls", async () => {
    assert.deepEqual((await call(base, "GET", "/healthz")).json, { ok: true });
    fake.health.reason = "no tick for 31 s";
    const r = await call(base, "GET", "/healthz");
    assert.equal(r.status, 503);
    assert.deepEqual(r.json, { ok: false, reason: "no tick for 31 s" });
    assert.match((await call(base, "GET", "/metrics")).text, /^wattkeeper_healthy 0$/m);
    fake.health.reason = null;
    assert.equal((await call(base, "GET", "/healthz")).status, 200);
  });

  test("the broker's outbox depth and link state come from the site's broker status", async () => {
    const text = (await call(base, "GET", "/metrics")).text;
    assert.match(text, /^wattkeeper_outbox_messages 42$/m);
    assert.match(text, /^wattkeeper_broker_connected 0$/m);
    // unknown power is absent, not 0
    assert.doesNotMatch(text, /^wattkeeper_site_power_watts /m);
  });

  test("SSE: heartbeat comments keep an idle stream open; clients are bounded (503 beyond)", async () => {
    const a = await openStream(base);
    const b = await openStream(base);
    try {
      await waitFor("a heartbeat", () => a.comments.some((c) => c.startsWith(": heartbeat")));
      const c = await call(base, "GET", "/api/stream");
      assert.equal(c.status, 503);
      assert.match(c.json.error as string, /too many live clients/);
      fake.emit("hello");
      await waitFor("the event on both streams", () =>
        [a, b].every((s) => s.frames.some((f) => f.event === "event" && f.id === "1")),
      );
    } finally {
      a.close();
      b.close();
    }
    // a closed client frees its place
    const d = await waitFor("a free place", async () => {
      const s = await openStream(base);
      if (s.res.statusCode === 200) return s;
      s.close();
      return null;
    });
    d.close();
  });
});
