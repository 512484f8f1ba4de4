// httpRequest's kept-alive connections: the requests of one read share one
// connection; a GET whose reused connection dies under it goes once more on a
// fresh one; a write does not (it may have been read), and `fresh` gets its own.
// Requests asked at once wait their turn on the one connection per host, each
// with its own deadline once it has the connection.
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, test } from "node:test";
import { httpRequest } from "../../drivers/cgminer/http-client.ts";
import { DriverError } from "../../drivers/types.ts";
import { listenOnLoopback, stopHttpServer } from "../helpers/ports.ts";

describe("httpRequest keep-alive", () => {
  let server: http.Server;
  let port = 0;
  let connections = 0;
  /** Connections the server holds open now, and who waits for that to reach none. */
  let open = 0;
  let onAllClosed: (() => void)[] = [];
  /** Requests per connection seen so far; a connection's request number `dropAt` is dropped unanswered. */
  let dropAt = 0;
  before(async () => {
    server = http.createServer((req, res) => {
      const sock = req.socket as typeof req.socket & { served?: number };
      sock.served = (sock.served ?? 0) + 1;
      if (dropAt > 0 && sock.served === dropAt) return void sock.destroy();
      if (req.url === "/hang") return; // never answered: the client's deadline ends it
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ n: sock.served }));
    });
    server.keepAliveTimeout = 5000;
    server.on("connection", (sock) => {
      connections++;
      open++;
      sock.once("close", () => {
        if (--open > 0) return;
        for (const done of onAllClosed) done();
        onAllClosed = [];
      });
    });
    port = await listenOnLoopback(server);
  });
  after(() => stopHttpServer(server));

  /** Resolves once the server holds no connection (the client closed its idle ones); fails after `withinMs`. */
  const allClosed = (withinMs: number) =>
    new Promise<void>((resolve, reject) => {
      if (open === 0) return resolve();
      const timer = setTimeout(
        () => reject(new Error(`a connection still open after ${withinMs} ms`)),
        withinMs,
      );
      onAllClosed.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });

  const ask = (method: "GET" | "POST", extra: { fresh?: boolean; path?: string; timeoutMs?: number } = {}) =>
    httpRequest(
      { host: "127.0.0.1", port },
      { method, path: "/x", connectTimeoutMs: 1000, timeoutMs: 2000, label: "ESPMINER", ...extra },
    );

  test("back-to-back requests share one connection", async () => {
    connections = 0;
    dropAt = 0;
    const replies = [await ask("GET"), await ask("GET"), await ask("POST")];
    assert.deepEqual(
      replies.map((r) => JSON.parse(r.body.toString()).n),
      [1, 2, 3],
    );
    assert.equal(connections, 1);
  });

  test("an idle connection is closed after a quarter of a second", async () => {
    await allClosed(2000); // the last test's connection gone
    connections = 0;
    await ask("GET");
    await allClosed(600); // closed by the client once idle, not by the server (its keep-alive is 5 s)
    await ask("GET");
    assert.equal(connections, 2);
  });

  test("a GET whose reused connection dies goes once more on a fresh one", async () => {
    await allClosed(2000); // the last test's connection gone
    connections = 0;
    dropAt = 2;
    await ask("GET");
    const again = await ask("GET");
    assert.equal(JSON.parse(again.body.toString()).n, 1);
    assert.equal(connections, 2);
  });

  test("a write on a reused connection that dies fails as a reset, not sent twice", async () => {
    await allClosed(2000); // the last test's connection gone
    connections = 0;
    dropAt = 2;
    await ask("GET");
    await assert.rejects(
      ask("POST"),
      (err: unknown) => err instanceof DriverError && err.code === "WK_ESPMINER_RESET",
    );
    assert.equal(connections, 1);
  });

  test("fresh: a connection of its own, closed after the reply", async () => {
    await allClosed(2000); // the last test's connection gone
    connections = 0;
    dropAt = 0;
    await ask("GET", { fresh: true });
    await ask("GET", { fresh: true });
    assert.equal(connections, 2);
  });

  test("requests asked at once wait their turn on one connection", async () => {
    await allClosed(2000); // the last test's connection gone
    connections = 0;
    dropAt = 0;
    const replies = await Promise.all(Array.from({ length: 5 }, () => ask("GET")));
    assert.deepEqual(replies.map((r) => JSON.parse(r.body.toString()).n).sort(), [1, 2, 3, 4, 5]);
    assert.equal(connections, 1);
  });

  test("a request behind a hung one gets its own deadline once it has a connection", async () => {
    await allClosed(2000); // the last test's connection gone
    connections = 0;
    const hung = ask("GET", { path: "/hang", timeoutMs: 300 });
    // waits about 300 ms for the connection (well inside its own bound: a loaded machine
    // fires timers late), then has a deadline of its own
    const next = ask("GET", { timeoutMs: 1500 });
    await assert.rejects(
      hung,
      (err: unknown) => err instanceof DriverError && /no reply within 300 ms/.test(err.message),
    );
    assert.equal(JSON.parse((await next).body.toString()).n, 1);
    assert.equal(connections, 2); // the hung connection was destroyed, the next one fresh
  });

  test("waiting for the connection is bounded by the request's own deadline", async () => {
    await allClosed(2000); // the last test's connection gone
    const hung = ask("GET", { path: "/hang", timeoutMs: 1000 });
    await assert.rejects(
      ask("GET", { timeoutMs: 200 }),
      (err: unknown) =>
        err instanceof DriverError &&
        err.code === "WK_ESPMINER_TIMEOUT" &&
        /no connection free within 200 ms/.test(err.message),
    );
    await assert.rejects(
      hung,
      (err: unknown) => err instanceof DriverError && err.code === "WK_ESPMINER_TIMEOUT",
    );
  });
});
