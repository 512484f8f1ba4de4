// The Proto dialect's pieces without a network: a JWT's expiry read without
// verifying it (tokens from the sim's own HS256 signer and hand-made ones),
// the MDK API's mining statuses, and drift reported with the fields that changed.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { stateOf } from "../../drivers/cgminer/dialects/proto/dialect.ts";
import { jwtExpiryMs, looksLikeJwt } from "../../drivers/cgminer/dialects/proto/jwt.ts";
import {
  MINING_STATUSES,
  MiningStatusSchema,
  MiningTargetSchema,
  messageOf,
  parseReply,
} from "../../drivers/cgminer/dialects/proto/schemas.ts";
import { DriverError } from "../../drivers/types.ts";
import { newSecret, signJwt } from "../../sim/proto/jwt.ts";

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");

describe("JWT expiry", () => {
  test("exp of a signed token, in ms", () => {
    const token = signJwt({ sub: "admin", typ: "access", iat: 1000, exp: 4600, jti: "x" }, newSecret());
    assert.ok(looksLikeJwt(token));
    assert.equal(jwtExpiryMs(token), 4_600_000);
  });

  test("no exp, a non-numeric exp, or no JWT at all: null", () => {
    assert.equal(jwtExpiryMs(`${b64({ alg: "HS256" })}.${b64({ sub: "a" })}.sig`), null);
    assert.equal(jwtExpiryMs(`${b64({ alg: "HS256" })}.${b64({ exp: "soon" })}.sig`), null);
    assert.equal(jwtExpiryMs("opaque-session-token"), null);
    assert.equal(jwtExpiryMs("a.!!!.c"), null);
    assert.equal(looksLikeJwt("opaque-session-token"), false);
  });
});

describe("mining status → state", () => {
  const at = (status: (typeof MINING_STATUSES)[number]) =>
    stateOf({
      status,
      power_usage_watts: 0,
      power_target_watts: 0,
      hashboards_installed: 4,
      hashboards_mining: 3,
    });

  test("every status of the spec has a state", () => {
    for (const s of MINING_STATUSES) assert.ok(at(s).state, s);
  });

  test("stopped and curtailed are asleep; powering on is starting; no pools and error are faults", () => {
    assert.deepEqual(at("Mining"), { state: "hashing", reason: null });
    assert.equal(at("Stopped").state, "sleeping");
    assert.match(at("Curtailed").reason ?? "", /curtailment service/);
    assert.equal(at("PoweringOn").state, "starting");
    assert.equal(at("NoPools").state, "faulted");
    assert.equal(at("Error").state, "faulted");
    assert.match(at("DegradedMining").reason ?? "", /3 of 4 hashboards/);
  });
});

describe("drift", () => {
  const drift = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof DriverError);
      return err;
    }
    assert.fail("expected a DriverError");
  };

  test("a field of another type names the firmware, the call and the field", () => {
    const reply = {
      "mining-status": { status: "Mining", power_usage_watts: "3100", power_target_watts: 3400 },
    };
    const err = drift(() =>
      parseReply(MiningStatusSchema, reply, { where: "GET /api/v1/mining", version: "1.9.0" }),
    );
    assert.equal(err.code, "WK_FIRMWARE_CHANGED");
    assert.equal(err.retryable, false);
    assert.match(
      err.message,
      /^firmware-changed: proto 1\.9\.0: GET \/api\/v1\/mining reply changed shape: /,
    );
    assert.match(err.message, /mining-status\.power_usage_watts: .*number/);
  });

  test("a field gone, a status the spec does not know", () => {
    const gone = drift(() =>
      parseReply(MiningTargetSchema, { power_target_watts: 3000 }, { where: "GET t", version: null }),
    );
    assert.match(gone.message, /proto \(version unknown\).*power_target_min_watts/);
    const status = drift(() =>
      parseReply(
        MiningStatusSchema,
        { "mining-status": { status: "Hibernating", power_usage_watts: 1, power_target_watts: 1 } },
        { where: "GET /api/v1/mining", version: "2.0.0" },
      ),
    );
    assert.match(status.message, /mining-status\.status/);
  });

  test("extra fields are not drift", () => {
    const t = parseReply(
      MiningTargetSchema,
      { power_target_watts: 3000, power_target_min_watts: 2000, power_target_max_watts: 4000, new_field: 1 },
      { where: "GET t", version: "1.8.2" },
    );
    assert.equal(t.power_target_max_watts, 4000);
  });
});

describe("error bodies", () => {
  test("MessageResponse, the {error:{code,message}} shape, control characters escaped", () => {
    assert.equal(messageOf({ message: "Invalid credentials" }), "Invalid credentials");
    assert.equal(
      messageOf({ error: { code: "DEFAULT_PASSWORD_ACTIVE", message: "default password must be changed" } }),
      "DEFAULT_PASSWORD_ACTIVE: default password must be changed",
    );
    assert.equal(messageOf({ message: "bad\u001b[31m" }), "bad\\x1b[31m");
    assert.equal(messageOf("text"), null);
  });
});
