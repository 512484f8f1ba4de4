// The HTTP endpoint's resource limits against raw sockets on loopback:
// connections over the per-address cap are closed at once and counted; at the
// total cap a new address still gets the page (the heaviest address gives up
// an idle connection); header and request deadlines hold within about a
// second (not Node's 30 s check); kept-alive connections end after their idle
// time and request count; live-update streams are capped per address (the
// oldest closed) and in total (a new address still gets one).

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { HttpServer, type HttpSite } from "../../agent/http/server.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import { waitFor } from "../helpers/ports.ts";
import { standInSite } from "../helpers/stand-in-site.ts";
import { call, openStream, type RawConn, rawConnect, type Stream } from "./http-helpers.ts";

function fakeSite(): HttpSite {
  return standInSite({}, { siteId: "limits", powerW: 1000, budgetW: 2000 });
}

const open: RawConn[] = [];
const streams: Stream[] = [];
async function raw(port: number, addr: string): Promise<RawConn> {
  const c = await rawConnect(port, addr);
  open.push(c);
  return c;
}
function closeAll(): void {
  for (const c of open.splice(0)) c.socket.destroy();
  for (const s of streams.splice(0)) s.close();
}

describe("connection caps", () => {
  let server: HttpServer;
  let port: number;
  let base: string;

  before(async () => {
    server = new HttpServer({
      host: "127.0.0.1",
      port: 0,
      site: fakeSite(),
      logger: silentLogger(),
      limits: { maxConnections: 20, maxConnectionsPerAddress: 8, headersTimeoutS: 30, requestTimeoutS: 30 },
    });
    await server.start();
    port = server.address()!.port;
    base = `http://127.0.0.1:${port}`;
  });
  after(async () => {
    closeAll();
    await server.stop();
  });

  test("over the per-address cap a connection is closed at once and counted; other addresses are served", async () => {
    const conns: RawConn[] = [];
    for (let i = 0; i < 12; i++) conns.push(await raw(port, "127.111.0.1"));
    await waitFor(
      "the four over the cap closed",
      () => conns.filter((c) => c.closedAt !== null).length === 4,
      2000,
    );
    for (const c of conns.filter((c) => c.closedAt !== null)) {
      assert.ok(c.closedAt! - c.openedAt < 500, "closed at once");
      assert.equal(c.received, "", "no bytes spent on it");
    }
    assert.equal(server.connections.heldBy("127.111.0.1"), 8);
    const page = await call(base, "GET", "/api/site", { localAddress: "127.111.0.2" });
    assert.equal(page.status, 200);
    const metrics = await call(base, "GET", "/metrics", { localAddress: "127.111.0.2" });
    assert.match(metrics.text, /^wattkeeper_http_connections_refused_total\{reason="per-address"\} [1-9]/m);
    assert.match(metrics.text, /^wattkeeper_http_connection_limit 20$/m);
    closeAll();
    await waitFor("connections released", () => server.connections.heldBy("127.111.0.1") === 0, 2000);
  });

  test("at the total cap a new address still gets the page: the heaviest address gives up an idle connection", async () => {
    // three addresses hold 8 + 8 + 4 = 20 half-open connections: the server is full
    for (const [addr, n] of [
      ["127.112.0.1", 8],
      ["127.112.0.2", 8],
      ["127.112.0.3", 4],
    ] as const) {
      for (let i = 0; i < n; i++) await raw(port, addr);
    }
    // kept-alive connections of earlier calls may still count: fill up to the cap exactly
    for (let i = 0; server.connections.size < 20 && i < 20; i++) await raw(port, "127.112.0.4");
    await waitFor("the server full", () => server.connections.size === 20, 2000);
    const before = server.connections.counts.evicted;
    const page = await call(base, "GET", "/", { localAddress: "127.112.0.9" });
    assert.equal(page.status, 200);
    assert.match(page.text, /<html/i);
    assert.ok(server.connections.counts.evicted > before);
    assert.ok(server.connections.size <= 20);
    // an address already holding as many as anyone does not push others out
    const refusedBefore = server.connections.counts.refusedTotal;
    for (let i = 0; i < 3; i++) await raw(port, "127.112.0.3");
    await waitFor(
      "refused at the total cap",
      () => server.connections.counts.refusedTotal > refusedBefore,
      2000,
    );
    closeAll();
  });
});

describe("deadlines and keep-alive", () => {
  let server: HttpServer;
  let port: number;

  before(async () => {
    server = new HttpServer({
      host: "127.0.0.1",
      port: 0,
      site: fakeSite(),
      logger: silentLogger(),
      limits: { headersTimeoutS: 1, requestTimeoutS: 2, keepAliveTimeoutS: 1, maxRequestsPerSocket: 3 },
    });
    await server.start();
    port = server.address()!.port;
  });
  after(async () => {
    closeAll();
    await server.stop();
  });

  test("headers trickled or never sent: 408 and closed within about a second of the deadline", async () => {
    const silent = await raw(port, "127.113.0.1");
    const trickle = await raw(port, "127.113.0.2");
    trickle.socket.write("GET /api/site HTTP/1.1\r\n");
    const timer = setInterval(() => trickle.socket.write("x-slow: 1\r\n"), 200);
    try {
      await waitFor("both closed", () => silent.closedAt !== null && trickle.closedAt !== null, 5000);
    } finally {
      clearInterval(timer);
    }
    for (const c of [silent, trickle]) {
      const heldMs = c.closedAt! - c.openedAt;
      assert.ok(heldMs >= 900 && heldMs < 2600, `held ${heldMs} ms against a 1 s header deadline`);
      assert.match(c.received, /^HTTP\/1\.1 408/);
    }
  });

  test("a body trickled past the request deadline is cut off", async () => {
    const c = await raw(port, "127.113.0.3");
    c.socket.write(
      "POST /api/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{",
    );
    const timer = setInterval(() => c.socket.write(" "), 200);
    try {
      await waitFor("closed", () => c.closedAt !== null, 6000);
    } finally {
      clearInterval(timer);
    }
    const heldMs = c.closedAt! - c.openedAt;
    assert.ok(heldMs >= 1900 && heldMs < 3600, `held ${heldMs} ms against a 2 s request deadline`);
  });

  test("kept-alive connections end after their idle time and their request count", async () => {
    const c = await raw(port, "127.113.0.4");
    const get = "GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n";
    c.socket.write(get);
    await waitFor("an answer", () => c.received.includes("\r\n\r\n"), 2000);
    assert.match(c.received, /keep-alive/i);
    // idle: closed after keepAliveTimeoutS (Node adds up to a second)
    await waitFor("closed when idle", () => c.closedAt !== null, 4000);
    assert.ok(c.closedAt! - c.openedAt < 3500);

    const d = await raw(port, "127.113.0.5");
    d.socket.write(get + get + get + get);
    await waitFor("closed after three requests", () => d.closedAt !== null, 3000);
    assert.equal(d.received.match(/HTTP\/1\.1 200/g)?.length, 3);
    assert.match(d.received, /connection: close/i);
  });
});

describe("live-update streams", () => {
  let server: HttpServer;
  let base: string;

  before(async () => {
    server = new HttpServer({
      host: "127.0.0.1",
      port: 0,
      site: fakeSite(),
      logger: silentLogger(),
      limits: { maxSseStreams: 6, maxSseStreamsPerAddress: 2 },
    });
    await server.start();
    base = `http://127.0.0.1:${server.address()!.port}`;
  });
  after(async () => {
    closeAll();
    await server.stop();
  });

  test("a third stream from one address closes that address's oldest", async () => {
    const a = await openStream(base, { localAddress: "127.114.0.1" });
    streams.push(a);
    const b = await openStream(base, { localAddress: "127.114.0.1" });
    streams.push(b);
    const c = await openStream(base, { localAddress: "127.114.0.1" });
    streams.push(c);
    assert.deepEqual(
      [a, b, c].map((s) => s.res.statusCode),
      [200, 200, 200],
    );
    await waitFor("the oldest closed", () => a.ended, 2000);
    assert.equal(b.ended, false);
    assert.equal(c.ended, false);
    closeAll();
  });

  test("at the total cap a new address gets a stream; the heaviest gives way", async () => {
    await waitFor("streams released", async () => {
      const m = await call(base, "GET", "/metrics");
      return /^wattkeeper_http_sse_clients 0$/m.test(m.text);
    });
    const held: Stream[] = [];
    for (const addr of [
      "127.115.0.1",
      "127.115.0.1",
      "127.115.0.2",
      "127.115.0.2",
      "127.115.0.3",
      "127.115.0.3",
    ]) {
      const s = await openStream(base, { localAddress: addr });
      streams.push(s);
      held.push(s);
      assert.equal(s.res.statusCode, 200);
    }
    const newcomer = await openStream(base, { localAddress: "127.115.0.9" });
    streams.push(newcomer);
    assert.equal(newcomer.res.statusCode, 200);
    await waitFor("one stream gave way", () => held.filter((s) => s.ended).length === 1, 2000);
    // a second would make the newcomer's address hold more than the one giving way: refused
    const second = await call(base, "GET", "/api/stream", { localAddress: "127.115.0.9" });
    assert.equal(second.status, 503);
    assert.equal(held.filter((s) => s.ended).length, 1, "the others keep theirs");
    const m = await call(base, "GET", "/metrics");
    assert.match(m.text, /^wattkeeper_http_sse_closed_total\{reason="total"\} [1-9]/m);
    closeAll();
  });
});
