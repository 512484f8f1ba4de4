// The HTTP layer's security pieces on their own: the scrypt hash format,
// sessions, the per-address login backoff, cookies and the Origin check.
import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { test } from "node:test";
import { originProblem, tokenProblem } from "../../agent/http/csrf.ts";
import { LoginLimiter } from "../../agent/http/login-limiter.ts";
import { hashPassword, parseHash, verifyPassword } from "../../agent/http/password.ts";
import { readCookie, Sessions, sameToken, sessionCookie } from "../../agent/http/sessions.ts";
import { OperatorSchema } from "../../config/schema/site.ts";

const FAST = { N: 1024, r: 8, p: 1 };

test("hashPassword writes the config's format; verifyPassword accepts it and nothing else", async () => {
  const h = await hashPassword("correct horse", FAST);
  assert.match(h, /^scrypt\$1024\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  assert.equal(OperatorSchema.safeParse({ name: "a", passwordHash: h }).success, true);
  assert.equal(await verifyPassword("correct horse", h), true);
  assert.equal(await verifyPassword("correct horse ", h), false);
  assert.equal(await verifyPassword("", h), false);
  // two hashes of one password differ (random salt) and both verify
  const h2 = await hashPassword("correct horse", FAST);
  assert.notEqual(h, h2);
  assert.equal(await verifyPassword("correct horse", h2), true);
});

test("the default parameters are the documented ones and verify", async () => {
  const h = await hashPassword("pw-default");
  assert.match(h, /^scrypt\$32768\$8\$1\$/);
  assert.equal(await verifyPassword("pw-default", h), true);
});

test("a malformed or missing hash never matches (and does not throw)", async () => {
  assert.equal(parseHash("scrypt$1000$8$1$c2FsdA==$aGFzaA=="), null, "N not a power of two");
  assert.equal(parseHash("bcrypt$2b$10$xyz"), null);
  assert.equal(await verifyPassword("x", "scrypt$3$8$1$c2FsdA==$aGFzaA=="), false);
  assert.equal(await verifyPassword("x", null), false);
});

test("sessions: a random token, its own CSRF token, idle and absolute expiry, bounded", () => {
  const s = new Sessions({ idleMs: 1000, maxAgeMs: 5000, max: 2 });
  const a = s.create("alice", 0);
  assert.ok(a.token.length >= 40 && a.csrfToken.length >= 40);
  assert.notEqual(a.token, a.csrfToken);
  assert.equal(s.get(a.token, 900)?.operator, "alice");
  assert.equal(s.get(a.token, 1800)?.operator, "alice", "use keeps it alive");
  assert.equal(s.get(a.token, 2900), null, "idle past 1 s");
  const b = s.create("bob", 3000);
  for (let t = 3500; t < 8000; t += 500) s.get(b.token, t);
  assert.equal(s.get(b.token, 8100), null, "absolute age past 5 s");
  s.create("c", 9000);
  s.create("d", 9000);
  const e = s.create("e", 9000);
  assert.equal(s.size, 2);
  assert.equal(s.get(e.token, 9001)?.operator, "e");
  assert.equal(s.get("nope"), null);
});

test("the session cookie is HttpOnly, SameSite=Strict, Path=/ and not Secure (plain HTTP on a LAN)", () => {
  const c = sessionCookie("tok", 3600);
  assert.match(c, /^wk_session=tok; /);
  assert.match(c, /HttpOnly/);
  assert.match(c, /SameSite=Strict/);
  assert.match(c, /Path=\//);
  assert.doesNotMatch(c, /Secure/);
  assert.equal(readCookie("a=1; wk_session=xyz; b=2", "wk_session"), "xyz");
  assert.equal(readCookie("a=1", "wk_session"), null);
  assert.equal(readCookie(undefined, "wk_session"), null);
  assert.equal(sameToken("abc", "abc"), true);
  assert.equal(sameToken("abd", "abc"), false);
  assert.equal(sameToken("ab", "abc"), false);
  assert.equal(sameToken(undefined, "abc"), false);
});

test("login limiter: free tries, then doubling waits with jitter, capped; success clears", () => {
  const l = new LoginLimiter({ freeFailures: 3, baseDelayMs: 1000, maxDelayMs: 8000, random: () => 0.5 });
  for (let i = 0; i < 3; i++) {
    assert.equal(l.waitMs("a", 0), 0);
    l.failure("a", 0);
  }
  assert.equal(l.waitMs("a", 0), 0, "three free failures");
  l.failure("a", 0);
  assert.equal(l.waitMs("a", 0), 1000);
  assert.equal(l.waitMs("b", 0), 0, "per address");
  l.failure("a", 1000);
  assert.equal(l.waitMs("a", 1000), 2000);
  for (let i = 0; i < 10; i++) l.failure("a", 2000);
  assert.equal(l.waitMs("a", 2000), 8000, "capped");
  l.success("a");
  assert.equal(l.waitMs("a", 2000), 0);
  const j = new LoginLimiter({ freeFailures: 0, baseDelayMs: 1000, random: () => 0 });
  j.failure("x", 0);
  assert.equal(j.waitMs("x", 0), 800, "-20 % jitter at the low end");
});

test("login limiter forgets quiet addresses and stays bounded", () => {
  const l = new LoginLimiter({ freeFailures: 0, forgetMs: 10_000, maxEntries: 3 });
  l.failure("a", 0);
  assert.ok(l.waitMs("a", 1) > 0);
  assert.equal(l.waitMs("a", 20_000), 0);
  for (const a of ["p", "q", "r", "s"]) l.failure(a, 30_000);
  assert.equal(l.waitMs("p", 30_001), 0, "the oldest entry went");
  assert.ok(l.waitMs("s", 30_001) > 0);
});

function req(headers: Record<string, string>): IncomingMessage {
  return { headers } as unknown as IncomingMessage;
}

test("Origin check: same host passes, another host, an opaque origin or a foreign Referer does not", () => {
  assert.equal(originProblem(req({ host: "10.0.0.5:8080", origin: "http://10.0.0.5:8080" })), null);
  assert.equal(originProblem(req({ host: "10.0.0.5:8080" })), null, "no Origin: a script, not a browser");
  assert.match(
    originProblem(req({ host: "10.0.0.5:8080", origin: "http://evil.example" }))!,
    /not 10\.0\.0\.5/,
  );
  assert.match(originProblem(req({ host: "10.0.0.5:8080", origin: "null" }))!, /opaque/);
  assert.match(
    originProblem(req({ host: "10.0.0.5:8080", referer: "http://evil.example/x" }))!,
    /evil\.example/,
  );
  assert.equal(originProblem(req({ host: "10.0.0.5:8080", referer: "http://10.0.0.5:8080/" })), null);
  assert.equal(tokenProblem(req({ "x-csrf-token": "t1" }), "t1"), null);
  assert.match(tokenProblem(req({}), "t1")!, /missing/);
  assert.match(tokenProblem(req({ "x-csrf-token": "t2" }), "t1")!, /wrong/);
});
