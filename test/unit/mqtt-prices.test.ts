// Price topics as an outside input: a bare number or {"value": n, "at"?};
// empty clears; signed envelopes verified against the command keys and bound
// to their topic; with signed prices required, plain values are refused. And
// the book that judges values: bounds, age, order, expiry.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { PriceBook } from "../../agent/control/prices.ts";
import { parsePrice } from "../../agent/mqtt/prices.ts";
import {
  buildPriceEnvelope,
  generateKeyPair,
  parsePrivateKey,
  parsePublicKey,
} from "../../agent/mqtt/signing.ts";

const TOPIC = "prices/ercot/lz_west";
const p = (s: string, requireSigned = false) =>
  parsePrice(Buffer.from(s), { topic: TOPIC, keys, requireSigned });

const pair = generateKeyPair();
const other = generateKeyPair();
const keys = new Map([["ops-central", parsePublicKey(pair.publicKeyPem)]]);
const signed = (value: number | null, o: { topic?: string; key?: string; keyName?: string } = {}) =>
  JSON.stringify(
    buildPriceEnvelope(parsePrivateKey(o.key ?? pair.privateKeyPem), {
      topic: o.topic ?? TOPIC,
      keyName: o.keyName ?? "ops-central",
      value,
      issuedAt: "2026-12-04T12:00:00.000Z",
    }),
  );

describe("parsePrice", () => {
  test("a bare number, or {value, at?}", () => {
    assert.deepEqual(p("0.08"), { value: 0.08, issuedAt: null, keyName: null });
    assert.deepEqual(p('{"value": -12.5}'), { value: -12.5, issuedAt: null, keyName: null });
    assert.deepEqual(p('{"value": 0.1, "at": "2026-12-04T12:00:00Z"}'), {
      value: 0.1,
      issuedAt: Date.parse("2026-12-04T12:00:00Z"),
      keyName: null,
    });
    assert.deepEqual(p('{"value": 0.1, "at": 1764849600}'), {
      value: 0.1,
      issuedAt: 1764849600000,
      keyName: null,
    });
  });

  test("an empty retained message clears the price (unless prices must be signed)", () => {
    assert.deepEqual(p(""), { value: null, issuedAt: null, keyName: null });
    assert.equal((p("", true) as { code: string }).code, "unsigned");
  });

  test("anything else is refused with a reason code", () => {
    for (const bad of [
      "not a price",
      '"0.08"',
      '{"value": "1"}',
      '{"value": 1, "unit": "EUR"}',
      "null",
      "[1]",
      "1e999",
    ]) {
      const r = p(bad);
      assert.ok("code" in r && r.code === "malformed", bad);
    }
    const big = p(`{"value": 1${" ".repeat(2000)}}`);
    assert.ok("code" in big && big.code === "oversized" && /1024 bytes/.test(big.error));
  });

  test("a signed envelope: verified with the command keys, bound to its topic", () => {
    assert.deepEqual(p(signed(0.05), true), {
      value: 0.05,
      issuedAt: Date.parse("2026-12-04T12:00:00.000Z"),
      keyName: "ops-central",
    });
    assert.deepEqual(p(signed(null), true), {
      value: null,
      issuedAt: Date.parse("2026-12-04T12:00:00.000Z"),
      keyName: "ops-central",
    });
    const code = (s: string) => (p(s, true) as { code?: string }).code;
    assert.equal(code(signed(0.05, { topic: "prices/other" })), "bad-signature", "replayed on another topic");
    assert.equal(code(signed(0.05, { key: other.privateKeyPem })), "bad-signature", "a key we do not hold");
    assert.equal(code(signed(0.05, { keyName: "nobody" })), "unknown-key");
    const tampered = JSON.parse(signed(0.05));
    tampered.body.value = 5;
    assert.equal(code(JSON.stringify(tampered)), "bad-signature");
    assert.equal(code("0.05"), "unsigned");
    assert.equal(code('{"value": 0.05}'), "unsigned");
  });
});

describe("PriceBook", () => {
  const T0 = Date.parse("2026-12-04T12:00:00Z");
  const limits = {
    energyPricePerKwh: { min: -1, max: 10, maxAgeS: 3600 },
    hashpricePerThDay: { min: 0, max: 5, maxAgeS: 172_800 },
  };

  test("fixed prices stand and never expire; topic prices are judged", () => {
    const b = new PriceBook(limits, { hashpricePerThDay: 0.05 });
    assert.deepEqual(b.current(T0 + 10 * 86_400_000), { energyPricePerKwh: null, hashpricePerThDay: 0.05 });
    assert.equal(b.offer("energyPricePerKwh", { value: 0.08, issuedAt: null }, T0), null);
    assert.deepEqual(b.current(T0), { energyPricePerKwh: 0.08, hashpricePerThDay: 0.05 });
  });

  test("implausible values are refused and the price in force stays", () => {
    const b = new PriceBook(limits);
    b.offer("energyPricePerKwh", { value: 0.08, issuedAt: null }, T0);
    assert.equal(b.offer("energyPricePerKwh", { value: 1e6, issuedAt: null }, T0)?.code, "out-of-range");
    assert.equal(b.offer("hashpricePerThDay", { value: -1e308, issuedAt: null }, T0)?.code, "out-of-range");
    assert.deepEqual(b.current(T0), { energyPricePerKwh: 0.08, hashpricePerThDay: null });
  });

  test("a price expires after maxAgeS: unknown again, reported once", () => {
    const b = new PriceBook(limits);
    b.offer("energyPricePerKwh", { value: 0.08, issuedAt: null }, T0);
    assert.deepEqual(b.newlyExpired(T0 + 3_599_000), []);
    assert.equal(b.current(T0 + 3_601_000).energyPricePerKwh, null);
    assert.equal(b.status("energyPricePerKwh", T0 + 3_601_000).state, "expired");
    assert.deepEqual(b.newlyExpired(T0 + 3_601_000), ["energyPricePerKwh"]);
    assert.deepEqual(b.newlyExpired(T0 + 3_700_000), []);
  });

  test("issue times: too old, from the future, or older than the price in force are refused", () => {
    const b = new PriceBook(limits);
    assert.equal(
      b.offer("energyPricePerKwh", { value: 0.08, issuedAt: T0 - 2 * 3_600_000 }, T0)?.code,
      "expired",
    );
    assert.equal(b.offer("energyPricePerKwh", { value: 0.08, issuedAt: T0 + 3_600_000 }, T0)?.code, "future");
    assert.equal(b.offer("energyPricePerKwh", { value: 0.08, issuedAt: T0 - 60_000 }, T0), null);
    assert.equal(b.offer("energyPricePerKwh", { value: 0.09, issuedAt: T0 - 120_000 }, T0)?.code, "older");
    // the same retained message again (a reconnect) is taken: it is not older
    assert.equal(b.offer("energyPricePerKwh", { value: 0.08, issuedAt: T0 - 60_000 }, T0 + 1000), null);
  });
});
