// The login limit over HTTP with its default scopes: the reported attack (300
// guesses from 100 addresses in about 12 s) meets 429s once the account's
// free failures are spent; the operator at an address that logged in before
// gets in at once during the attack; a new address is told to wait no more
// than 30 s; every refusal is audited with its reason code and source.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { hashPassword } from "../../agent/http/password.ts";
import { HttpServer } from "../../agent/http/server.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";
import type { NewAuditEntry } from "../../agent/store/audit.ts";
import { standInSite } from "../helpers/stand-in-site.ts";
import { call } from "./http-helpers.ts";

const PASSWORD = "field-tech-7";
const audits: NewAuditEntry[] = [];
let server: HttpServer;
let base: string;

before(async () => {
  const site = standInSite(
    {
      audit: (e) => {
        audits.push(e);
      },
    },
    { siteId: "login" },
  );
  server = new HttpServer({
    host: "127.0.0.1",
    port: 0,
    site,
    logger: silentLogger(),
    // a cheap scrypt cost keeps the test quick; the format is the production one
    operators: [{ name: "tech", passwordHash: await hashPassword(PASSWORD, { N: 1024, r: 8, p: 1 }) }],
  });
  await server.start();
  base = `http://127.0.0.1:${server.address()!.port}`;
});
after(() => server.stop());

const login = (password: string, localAddress: string) =>
  call(base, "POST", "/api/login", {
    body: { name: "tech", password },
    headers: { origin: base },
    localAddress,
  });

test("300 guesses from 100 addresses meet 429s; the known operator gets in, a new address waits at most 30 s", async () => {
  const laptop = "127.118.0.200";
  assert.equal((await login(PASSWORD, laptop)).status, 200);
  const statuses = new Map<number, number>();
  const t0 = Date.now();
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 100; i++) {
      const r = await login(`guess-${round}-${i}`, `127.118.1.${i + 1}`);
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    }
  }
  const elapsedMs = Date.now() - t0;
  const tooMany = statuses.get(429) ?? 0;
  const checked = statuses.get(401) ?? 0;
  assert.equal(tooMany + checked, 300, JSON.stringify([...statuses]));
  assert.ok(tooMany >= 270, `${tooMany} of 300 refused unchecked in ${elapsedMs} ms`);

  // the operator's own laptop is not kept out by the attack
  assert.equal((await login(PASSWORD, laptop)).status, 200);
  // a new address waits, and is told how long: never more than 30 s
  const fresh = await login(PASSWORD, "127.118.0.201");
  assert.equal(fresh.status, 429);
  assert.match(fresh.json.error as string, /for this account: retry in \d+ s/);
  assert.ok(Number(fresh.headers["retry-after"]) <= 30);

  const reasons = new Set(audits.filter((a) => !a.ok).map((a) => a.reason));
  assert.deepEqual([...reasons].sort(), ["login-wait-account", "wrong-password"]);
  assert.ok(audits.every((a) => a.ok || (a.source ?? "").startsWith("127.118.")));
  const metrics = (await call(base, "GET", "/metrics")).text;
  assert.match(metrics, /^wattkeeper_http_refusals_total\{reason="login-wait-account"\} \d+/m);
});
