// Price topics: a bare number or {"value": n}; empty clears; the rest refused.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parsePrice } from "../../agent/mqtt/prices.ts";

const p = (s: string) => parsePrice(Buffer.from(s));

describe("parsePrice", () => {
  test("a bare number, or {value}", () => {
    assert.deepEqual(p("0.08"), { value: 0.08 });
    assert.deepEqual(p('{"value": -12.5}'), { value: -12.5 });
  });

  test("an empty retained message clears the price", () => {
    assert.deepEqual(p(""), { value: null });
  });

  test("anything else is refused with a reason", () => {
    for (const bad of [
      "not a price",
      '"0.08"',
      '{"value": "1"}',
      '{"value": 1, "unit": "EUR"}',
      "null",
      "[1]",
    ]) {
      assert.ok("error" in p(bad), bad);
    }
    const big = parsePrice(Buffer.from(`{"value": 1${" ".repeat(2000)}}`));
    assert.ok("error" in big && /1024 bytes/.test(big.error));
  });
});
