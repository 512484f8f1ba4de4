// The command checks, one refusal reason each, and the key formats.
import assert from "node:assert/strict";
import { createPublicKey, generateKeyPairSync } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { checkCommand } from "../../agent/mqtt/commands.ts";
import { ReplayCache } from "../../agent/mqtt/replay.ts";
import {
  buildEnvelope,
  generateKeyPair,
  parsePrivateKey,
  parsePublicKey,
  signingString,
} from "../../agent/mqtt/signing.ts";

const pair = generateKeyPair();
const priv = parsePrivateKey(pair.privateKeyPem);
const other = parsePrivateKey(generateKeyPair().privateKeyPem);
const dir = mkdtempSync(join(tmpdir(), "wk-cmd-"));
const replay = new ReplayCache(join(dir, "s.db"), 300);
replay.open();
after(() => replay.close());
const NOW = Date.parse("2026-01-01T12:00:00.000Z");
const ctx = {
  siteId: "s1",
  keys: new Map([["ops", parsePublicKey(pair.publicKeyPem)]]),
  skewS: 300,
  maxBytes: 4096,
  replay,
  now: NOW,
};
const env = (
  name: string,
  body: unknown,
  o: { keyName?: string; issuedAt?: string; key?: typeof priv } = {},
) =>
  buildEnvelope(o.key ?? priv, {
    siteId: "s1",
    name,
    keyName: o.keyName ?? "ops",
    body,
    issuedAt: o.issuedAt ?? new Date(NOW).toISOString(),
  });
const raw = (x: unknown) => Buffer.from(JSON.stringify(x));
const code = (name: string, x: unknown) => {
  const r = checkCommand(name, Buffer.isBuffer(x) ? x : raw(x), ctx);
  return r.ok ? "ok" : r.code;
};

test("the signing string is the documented one, over the JCS body", () => {
  assert.equal(
    signingString({
      siteId: "s1",
      name: "ping",
      id: "a",
      issuedAt: "2026-01-01T00:00:00Z",
      body: { b: 1, a: [true] },
    }),
    'wattkeeper-cmd/v1\ns1\nping\na\n2026-01-01T00:00:00Z\n{"a":[true],"b":1}',
  );
});

test("a good command passes once; every forgery and mistake is refused with its reason", () => {
  const good = env("budget/set", { watts: 500000, ttlS: 600, reason: "DR" });
  const r = checkCommand("budget/set", raw(good), ctx);
  assert.equal(r.ok, true);
  assert.equal(code("budget/set", good), "replayed");
  const { sig: _s, ...unsigned } = env("ping", {});
  assert.equal(code("ping", unsigned), "unsigned");
  assert.equal(code("ping", env("ping", {}, { keyName: "nobody" })), "unknown-key");
  assert.equal(code("ping", env("ping", {}, { key: other })), "bad-signature");
  const tampered = env("budget/set", { watts: 500000, ttlS: 600, reason: "DR" });
  assert.equal(
    code("budget/set", { ...tampered, body: { ...(tampered.body as object), watts: 0 } }),
    "bad-signature",
  );
  // signed for another command name or another site: the signature does not carry over
  assert.equal(code("mode/set", env("ping", {})), "bad-signature");
  const elsewhere = buildEnvelope(priv, {
    siteId: "s2",
    name: "ping",
    keyName: "ops",
    body: {},
    issuedAt: new Date(NOW).toISOString(),
  });
  assert.equal(code("ping", elsewhere), "bad-signature");
  assert.equal(code("ping", env("ping", {}, { issuedAt: new Date(NOW - 301_000).toISOString() })), "stale");
  assert.equal(code("ping", env("ping", {}, { issuedAt: new Date(NOW + 301_000).toISOString() })), "future");
  assert.equal(code("ping", env("ping", {}, { issuedAt: new Date(NOW - 299_000).toISOString() })), "ok");
  assert.equal(code("ping", Buffer.alloc(5000, 32)), "oversized");
  assert.equal(code("reboot/all", env("reboot/all", {})), "unknown-command");
  assert.equal(code("mode/set", env("mode/set", { mode: "off" })), "schema");
  assert.equal(code("budget/set", env("budget/set", { watts: -1, ttlS: 600, reason: "x" })), "schema");
  assert.equal(code("ping", Buffer.from("{not json")), "malformed");
  assert.equal(code("ping", { ...env("ping", {}), issuedAt: "yesterday" }), "malformed");
});

test("budget/set and device/action take powers and durations as the config writes them", () => {
  const body = (b: unknown, name = "budget/set") => {
    const r = checkCommand(name, raw(env(name, b)), ctx);
    return r.ok ? r.body : r.error;
  };
  // the case: "250kW" was refused though `contractLimitW: 250kW` is fine in the config
  assert.deepEqual(body({ watts: "250kW", ttlS: "5m", reason: "DR" }), {
    watts: 250_000,
    ttlS: 300,
    reason: "DR",
  });
  assert.deepEqual(body({ watts: "1.2MW", ttlS: 600, reason: "DR" }), {
    watts: 1_200_000,
    ttlS: 600,
    reason: "DR",
  });
  assert.deepEqual(body({ watts: 250000, ttlS: "1h30m", reason: "DR" }), {
    watts: 250_000,
    ttlS: 5400,
    reason: "DR",
  });
  assert.deepEqual(body({ id: "m1", action: "set-power-limit", value: "3.2kW" }, "device/action"), {
    id: "m1",
    action: "set-power-limit",
    value: 3200,
  });
  // and refused where the config refuses them, with the config's words
  assert.match(
    String(body({ watts: "250 kWh", ttlS: 60, reason: "x" })),
    /^schema: watts: expected a power like/,
  );
  assert.match(
    String(body({ watts: "-5kW", ttlS: 60, reason: "x" })),
    /^schema: watts: must not be negative/,
  );
  assert.match(
    String(body({ watts: "1MW", ttlS: "5min", reason: "x" })),
    /^schema: ttlS: expected a duration/,
  );
  assert.match(
    String(body({ watts: "1MW", ttlS: "0s", reason: "x" })),
    /^schema: ttlS: must be greater than 0/,
  );
  assert.match(
    String(body({ watts: "1MW", ttlS: "8d", reason: "x" })),
    /^schema: ttlS: must be at most 604800 s/,
  );
  assert.match(
    String(body({ id: "m1", action: "set-power-limit", value: "0W" }, "device/action")),
    /^schema: value: must be greater than 0/,
  );
});

test("the replay cache survives a reopen and forgets ids beyond 2×skew", () => {
  const id = "persist-1";
  assert.equal(replay.remember(id, NOW, NOW), true);
  const again = new ReplayCache(join(dir, "s.db"), 300);
  again.open();
  assert.equal(again.remember(id, NOW, NOW), false);
  assert.ok(again.prune(NOW + 601_000) >= 1);
  assert.equal(again.remember(id, NOW, NOW + 601_000), true);
  again.close();
});

test("public keys: PEM or base64 raw; not Ed25519 refused", () => {
  const { publicKey } = generateKeyPairSync("ed25519");
  const rawB64 = publicKey.export({ format: "jwk" }).x as string;
  const b64 = Buffer.from(rawB64, "base64url").toString("base64");
  assert.equal(parsePublicKey(b64).asymmetricKeyType, "ed25519");
  assert.equal(
    parsePublicKey(publicKey.export({ type: "spki", format: "pem" }).toString()).asymmetricKeyType,
    "ed25519",
  );
  const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 })
    .publicKey.export({ type: "spki", format: "pem" })
    .toString();
  assert.throws(() => parsePublicKey(rsa), /Ed25519/);
  assert.throws(() => parsePublicKey("AAAA"), /Ed25519/);
  assert.ok(createPublicKey(pair.publicKeyPem));
});
