// Login limits in three scopes: per address, per account, for the site. A
// spread-out guesser is slowed by the account and site scopes; a known
// address (one that logged in) answers only for its own failures; every wait
// is capped, and an attempt refused while waiting does not extend it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { LOGIN_DEFAULTS, LoginGuard } from "../../agent/http/login-limiter.ts";

const noJitter = { random: () => 0.5 };

test("guesses spread over many addresses are slowed by the account scope", () => {
  const g = new LoginGuard({ address: noJitter, account: noJitter, global: noJitter });
  let checked = 0;
  let refused = 0;
  // 300 guesses from 100 addresses in 12 s (the reported attack): 3 each
  for (let i = 0; i < 300; i++) {
    const now = i * 40;
    const addr = `10.9.${i % 100}.1`;
    const block = g.addressWait(addr, now) ?? g.accountWait(addr, "tech", now);
    if (block) {
      refused++;
      continue;
    }
    checked++;
    g.failure(addr, "tech", now);
  }
  // 10 free, then waits of 1, 2, 4, 8 s… fit only a handful more into 12 s
  assert.ok(checked <= 16, `${checked} guesses checked`);
  assert.equal(checked + refused, 300);
});

test("a known address is exempt from the account and site waits; a new one waits at most 30 s", () => {
  const g = new LoginGuard({ account: { random: () => 1 }, global: { random: () => 1 } });
  g.success("10.0.0.5", 0);
  // an attacker keeps the account locked as long as it can
  let now = 1000;
  for (let i = 0; i < 2000; i++, now += 50) {
    const a = `10.8.${i % 250}.${i >> 8}`;
    if (!g.accountWait(a, "tech", now)) g.failure(a, "tech", now);
  }
  assert.equal(g.accountWait("10.0.0.5", "tech", now), null, "the operator's laptop is not kept out");
  assert.equal(g.addressWait("10.0.0.5", now), null);
  const block = g.accountWait("10.0.0.77", "tech", now)!;
  assert.equal(block.scope, "account");
  // capped before jitter at 25 s: with the maximum jitter (+20 %) at most 30 s
  assert.ok(block.waitMs <= 30_000, `${block.waitMs} ms`);
  // attempts refused while waiting do not extend the wait
  const until = now + block.waitMs;
  assert.equal(g.accountWait("10.0.0.77", "tech", until), null);
  assert.equal(LOGIN_DEFAULTS.account.maxDelayMs * 1.2, 30_000);
});

test("the site scope slows guessing across accounts; it forgets after a quiet spell", () => {
  const g = new LoginGuard({ global: { ...noJitter, freeFailures: 5, forgetMs: 60_000 } });
  for (let i = 0; i < 6; i++) g.failure(`10.7.0.${i}`, `name-${i}`, 0);
  const b = g.accountWait("10.7.1.1", "someone-else", 0)!;
  assert.equal(b.scope, "global");
  assert.equal(g.accountWait("10.7.1.1", "someone-else", 120_000), null);
});

test("known addresses are remembered for a while, and only so many", () => {
  const g = new LoginGuard({ knownForMs: 1000, maxKnown: 2 });
  g.success("a", 0);
  assert.equal(g.isKnown("a", 500), true);
  assert.equal(g.isKnown("a", 1500), false);
  g.success("b", 2000);
  g.success("c", 2000);
  g.success("d", 2000);
  assert.deepEqual(
    ["b", "c", "d"].map((x) => g.isKnown(x, 2001)),
    [false, true, true],
  );
});
