// Operator login and actions over HTTP against a Site on the simulator:
// login and session, a wrong password (refused and audited), the per-address
// rate limit, CSRF and Origin refusals, and actions that go through the
// control loop to the simulated miners.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Site } from "../../agent/site/site.ts";
import { testPort, waitFor } from "../helpers/ports.ts";
import { type SimSite, startSimSite, testPasswordHash } from "../helpers/sim-site.ts";
import { call, cookieOf } from "./http-helpers.ts";

const PASSWORD = "field-tech-7";

let site: Site;
let base: string;
let running: SimSite;

before(async () => {
  const hash = await testPasswordHash(PASSWORD);
  running = await startSimSite(
    "http-op",
    `site: { id: httpop, timezone: UTC, contractLimitW: 1MW }
http:
  operators:
    - { name: alice, passwordHash: "${hash}" }
store: { path: ./state.db }
meters:
  - { id: pcc, role: site, profile: sdm630, modbus: { tcp: "127.0.0.1:${await testPort()}", unitId: 1 } }
miners:
  - { hosts: 127.116.0.1-127.116.0.6, dialect: luxos, location: row-1 }
control: { tickS: 0.5, minOnS: 1s, minOffS: 1s, restoreStaggerS: 0 }
sim: { seed: 11, noiseW: 10, auxW: 1kW }
`,
  );
  ({ site, base } = running);
  await waitFor("six miners hashing", () => site.snapshot().counts.hashing === 6, 15_000);
});
after(() => running.stop());

async function login(localAddress?: string) {
  const r = await call(base, "POST", "/api/login", {
    body: { name: "alice", password: PASSWORD },
    headers: { origin: base },
    localAddress,
  });
  assert.equal(r.status, 200, r.text);
  return { cookie: cookieOf(r), csrf: r.json.csrfToken as string, reply: r };
}

function lastAudit() {
  return site.audit!.recent(1)[0]!;
}

describe("login and session", () => {
  test("a right password gives an HttpOnly SameSite=Strict cookie; /api/session names the operator", async () => {
    const anon = await call(base, "GET", "/api/session");
    assert.deepEqual(anon.json, { operator: null, csrfToken: null, loginEnabled: true });
    const { cookie, csrf, reply } = await login();
    const set = String(reply.headers["set-cookie"]);
    assert.match(set, /HttpOnly/);
    assert.match(set, /SameSite=Strict/);
    assert.match(set, /Path=\//);
    assert.doesNotMatch(set, /Secure/);
    const s = await call(base, "GET", "/api/session", { headers: { cookie } });
    assert.equal(s.json.operator, "alice");
    assert.equal(s.json.csrfToken, csrf);
    const audit = lastAudit();
    assert.equal(audit.action, "login");
    assert.equal(audit.ok, true);
    assert.equal(audit.who, "alice");

    const out = await call(base, "POST", "/api/logout", {
      body: {},
      headers: { cookie, "x-csrf-token": csrf },
    });
    assert.equal(out.status, 200);
    assert.match(String(out.headers["set-cookie"]), /Max-Age=0/);
    assert.equal((await call(base, "GET", "/api/session", { headers: { cookie } })).json.operator, null);
  });

  test("a wrong password or an unknown name is 401, the same answer, audited without the password", async () => {
    const src = "127.116.9.1";
    const wrong = await call(base, "POST", "/api/login", {
      body: { name: "alice", password: "nope" },
      localAddress: src,
    });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.error, "wrong name or password");
    assert.equal(wrong.headers["set-cookie"], undefined);
    const audit = lastAudit();
    // a failed login proves no identity: "anonymous", with the name it claimed in the body
    assert.deepEqual([audit.action, audit.who, audit.ok, audit.via], ["login", "anonymous", false, "http"]);
    assert.equal((audit.body as { name: string }).name, "alice");
    assert.doesNotMatch(JSON.stringify(audit.body), /nope/);
    assert.match(JSON.stringify(audit.body), /127\.116\.9\.1/);
    const unknown = await call(base, "POST", "/api/login", {
      body: { name: "mallory", password: "nope" },
      localAddress: src,
    });
    assert.equal(unknown.status, 401);
    assert.equal(unknown.json.error, wrong.json.error);
  });

  test("bad bodies are 400/413/415 with a reason", async () => {
    const extra = await call(base, "POST", "/api/login", { body: { name: "a", password: "b", admin: true } });
    assert.equal(extra.status, 400);
    assert.match(extra.json.error as string, /admin|unrecognized/i);
    const notJson = await call(base, "POST", "/api/login", { raw: "{nope" });
    assert.equal(notJson.status, 400);
    assert.match(notJson.json.error as string, /JSON/);
    const big = await call(base, "POST", "/api/login", {
      raw: JSON.stringify({ name: "a", password: "x".repeat(10_000) }),
    });
    assert.equal(big.status, 413);
    const form = await call(base, "POST", "/api/login", {
      raw: "name=a",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    assert.equal(form.status, 415);
  });

  test("failed logins from one address are slowed down (429 + Retry-After), audited; other addresses are not", async () => {
    const src = "127.81.0.1";
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await call(base, "POST", "/api/login", {
        body: { name: "alice", password: `guess-${i}` },
        localAddress: src,
      });
      statuses.push(r.status);
      if (r.status === 429) {
        assert.ok(Number(r.headers["retry-after"]) >= 1);
        assert.match(r.json.error as string, /too many failed logins/);
      }
    }
    // three free failures, the fourth starts a wait: the fifth is refused unchecked
    assert.deepEqual(statuses, [401, 401, 401, 401, 429]);
    const audit = lastAudit();
    assert.equal(audit.ok, false);
    assert.match(audit.error!, /too many/);
    // even the right password waits its turn from that address
    const right = await call(base, "POST", "/api/login", {
      body: { name: "alice", password: PASSWORD },
      localAddress: src,
    });
    assert.equal(right.status, 429);
    // another address is not affected
    await login("127.81.0.2");
  });
});

describe("operator actions", () => {
  test("without a session an action is 401 and audited as anonymous", async () => {
    const r = await call(base, "POST", "/api/actions", {
      body: { kind: "device", id: "m-127-116-0-1", action: "sleep" },
    });
    assert.equal(r.status, 401);
    assert.equal(r.json.error, "login required");
    const a = lastAudit();
    assert.deepEqual([a.action, a.who, a.ok], ["actions", "anonymous", false]);
  });

  test("a session without its CSRF token, with a wrong one, or from another Origin is 403", async () => {
    const { cookie, csrf } = await login();
    const body = { kind: "mode", mode: "hold" };
    const none = await call(base, "POST", "/api/actions", { body, headers: { cookie } });
    assert.equal(none.status, 403);
    assert.match(none.json.error as string, /CSRF.*missing x-csrf-token/);
    const wrong = await call(base, "POST", "/api/actions", {
      body,
      headers: { cookie, "x-csrf-token": `${csrf}x` },
    });
    assert.equal(wrong.status, 403);
    assert.match(wrong.json.error as string, /wrong x-csrf-token/);
    const cross = await call(base, "POST", "/api/actions", {
      body,
      headers: { cookie, "x-csrf-token": csrf, origin: "http://evil.example" },
    });
    assert.equal(cross.status, 403);
    assert.match(cross.json.error as string, /cross-site/);
    const a = lastAudit();
    assert.deepEqual([a.action, a.who, a.ok], ["actions", "alice", false]);
    assert.equal(site.mode, "auto", "nothing changed");
  });

  test("sleep and wake go through the loop to the miner; hold/auto set the mode; all audited as the operator", async () => {
    const { cookie, csrf } = await login();
    const headers = { cookie, "x-csrf-token": csrf, origin: base };
    const id = "m-127-116-0-3";

    const slept = await call(base, "POST", "/api/actions", {
      body: { kind: "device", id, action: "sleep", reason: "fan swap" },
      headers,
    });
    assert.equal(slept.status, 200, slept.text);
    assert.equal(slept.json.ok, true);
    await waitFor("the miner asleep", () => site.state.miners.get(id)?.reading?.state === "sleeping", 10_000);
    let a = lastAudit();
    assert.deepEqual([a.action, a.who, a.via, a.ok], ["device/action", "alice", "http", true]);
    assert.ok(site.recentEvents(20).some((e) => e.kind === "operator-action" && e.deviceId === id));

    const woke = await call(base, "POST", "/api/actions", {
      body: { kind: "device", id, action: "wake" },
      headers,
    });
    assert.equal(woke.status, 200, woke.text);
    await waitFor("the miner back", () => site.state.miners.get(id)?.reading?.state !== "sleeping", 15_000);

    const ex = await call(base, "POST", "/api/actions", {
      body: { kind: "device", id, action: "exclude" },
      headers,
    });
    assert.equal(ex.status, 200);
    const devices = await call(base, "GET", "/api/devices");
    const m = (devices.json.miners as Array<{ id: string; excluded: boolean }>).find((x) => x.id === id)!;
    assert.equal(m.excluded, true);
    assert.equal(
      (await call(base, "POST", "/api/actions", { body: { kind: "device", id, action: "include" }, headers }))
        .status,
      200,
    );

    const hold = await call(base, "POST", "/api/actions", { body: { kind: "mode", mode: "hold" }, headers });
    assert.equal(hold.status, 200);
    assert.equal((await call(base, "GET", "/api/site")).json.mode, "hold");
    a = lastAudit();
    assert.deepEqual([a.action, a.who, a.ok], ["mode/set", "alice", true]);
    assert.equal(
      (await call(base, "POST", "/api/actions", { body: { kind: "mode", mode: "auto" }, headers })).status,
      200,
    );
    assert.equal(site.mode, "auto");
  });

  test("an unknown device is 409 with the Site's reason and its audit entry; an action that does not exist is 400", async () => {
    const { cookie, csrf } = await login();
    const headers = { cookie, "x-csrf-token": csrf };
    const unknown = await call(base, "POST", "/api/actions", {
      body: { kind: "device", id: "nope", action: "wake" },
      headers,
    });
    assert.equal(unknown.status, 409);
    const audit = unknown.json.audit as {
      id: number;
      at: number;
      who: string;
      via: string;
      action: string;
      ok: boolean;
    };
    assert.deepEqual(
      { ...unknown.json, audit: { ...audit, id: 0 } },
      {
        ok: false,
        error: 'unknown device "nope"',
        audit: { id: 0, at: audit.at, who: "alice", via: "http", action: "device/action", ok: false },
      },
    );
    assert.equal(lastAudit().id, audit.id, "the answer names the entry the action was audited under");
    const explode = await call(base, "POST", "/api/actions", {
      body: { kind: "device", id: "m-127-116-0-1", action: "explode" },
      headers,
    });
    assert.equal(explode.status, 400);
    assert.match(explode.json.error as string, /^action:/);
    // untilS belongs to exclude only
    const timedSleep = await call(base, "POST", "/api/actions", {
      body: { kind: "device", id: "m-127-116-0-1", action: "sleep", untilS: 60 },
      headers,
    });
    assert.equal(timedSleep.status, 400);
    assert.match(timedSleep.json.error as string, /^untilS: untilS is for exclude only/);
  });
});
