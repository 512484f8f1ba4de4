// First contact's reply reuse (drivers/cgminer/recent-replies.ts) through httpRequest:
// the same GET asked again moments later is answered from the store, anything that
// differs (a header, the path, a POST, a failed status, an old reply) goes to the miner.
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, test } from "node:test";
import { type HttpReply, httpRequest } from "../../drivers/cgminer/http-client.ts";
import { RecentReplies } from "../../drivers/cgminer/recent-replies.ts";
import { listenOnLoopback, stopHttpServer } from "../helpers/ports.ts";

describe("recent replies", () => {
  let server: http.Server;
  let port = 0;
  const seen: string[] = [];
  before(async () => {
    server = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.token ?? ""}`);
      res.writeHead(req.url === "/missing" ? 404 : 200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ n: seen.length }));
    });
    port = await listenOnLoopback(server);
  });
  after(() => stopHttpServer(server));

  const ask = (
    recent: RecentReplies<HttpReply>,
    path: string,
    more: { method?: "GET" | "POST"; token?: string } = {},
  ) =>
    httpRequest(
      { host: "127.0.0.1", port },
      {
        method: more.method ?? "GET",
        path,
        headers: more.token ? { Token: more.token } : {},
        connectTimeoutMs: 1000,
        timeoutMs: 2000,
        recent,
      },
    ).then((r) => ({ status: r.status, n: (JSON.parse(r.body.toString()) as { n: number }).n }));

  test("the same GET is answered once; another path, header or method goes to the miner", async () => {
    seen.length = 0;
    const recent = new RecentReplies<HttpReply>();
    const first = await ask(recent, "/info");
    assert.deepEqual(await ask(recent, "/info"), first);
    assert.equal(seen.length, 1);
    await ask(recent, "/info", { token: "a" });
    await ask(recent, "/info", { token: "b" });
    await ask(recent, "/info", { token: "a" });
    await ask(recent, "/other");
    await ask(recent, "/info", { method: "POST" });
    await ask(recent, "/info", { method: "POST" });
    assert.deepEqual(seen, [
      "GET /info ",
      "GET /info a",
      "GET /info b",
      "GET /other ",
      "POST /info ",
      "POST /info ",
    ]);
  });

  test("only a 200 is kept, and only while it is young", async () => {
    seen.length = 0;
    let now = 1_000_000;
    const recent = new RecentReplies<HttpReply>(() => now);
    assert.equal((await ask(recent, "/missing")).status, 404);
    assert.equal((await ask(recent, "/missing")).status, 404);
    assert.equal(seen.length, 2);
    const kept = await ask(recent, "/info");
    now += 2000;
    assert.deepEqual(await ask(recent, "/info"), kept);
    now += 1;
    assert.notDeepEqual(await ask(recent, "/info"), kept);
    assert.equal(seen.length, 4);
  });
});
