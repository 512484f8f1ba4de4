// Message numbers without Intl: the same text as en-US Intl for integers, ties
// (x.5, 1.005: rounded on the shortest decimal, away from zero), carries
// (999.96 → "1,000"), signs and tiny values; and the agent's start-up path never
// builds an Intl formatter (which costs ~8 MiB of resident ICU data).
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatGrouped, formatSignificant } from "../../drivers/number-text.ts";

const grouped = (maxFractionDigits: number) =>
  new Intl.NumberFormat("en-US", { maximumFractionDigits: maxFractionDigits });
const significant = (digits: number) => new Intl.NumberFormat("en-US", { maximumSignificantDigits: digits });

// a fixed-seed generator: the same numbers every run
function* samples(): Generator<number> {
  yield* [0, -0, 0.5, 1.5, 2.5, -2.5, 1.005, 1.0049999, 9.995, 999.5, 999.96, 999_999.5, 1234.5, 0.012345];
  yield* [1e-6, 1.23e-6, 123_456_789, 2 ** 53, 1e20, 0.1 + 0.2, -1234.5678, 20_000, 3500, 104.44];
  let x = 0x2545f491;
  for (let i = 0; i < 3000; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const mantissa = (x >>> 0) / 2 ** 32;
    const scale = 10 ** ((i % 14) - 5);
    const v = mantissa * scale;
    // every third sample on a decimal tie at some place
    yield i % 3 === 0 ? Number((Math.round(v * 1000) / 1000 + 0.0005).toFixed(4)) : i % 2 ? v : -v;
  }
}

test("formatGrouped matches en-US Intl with 0 and 3 fraction digits", () => {
  for (const digits of [0, 1, 3]) {
    const intl = grouped(digits);
    for (const n of samples()) assert.equal(formatGrouped(n, digits), intl.format(n), `${n} with ${digits}`);
  }
});

test("formatSignificant matches en-US Intl with 3 significant digits", () => {
  for (const digits of [1, 3, 5]) {
    const intl = significant(digits);
    for (const n of samples())
      assert.equal(formatSignificant(n, digits), intl.format(n), `${n} to ${digits}`);
  }
});

test("the examples the messages show", () => {
  assert.equal(formatGrouped(2000, 0), "2,000");
  assert.equal(formatGrouped(20_000), "20,000");
  assert.equal(formatGrouped(1_234_567.25), "1,234,567.25");
  assert.equal(formatSignificant(1234.5, 3), "1,230");
  assert.equal(formatSignificant(104.44, 3), "104");
  assert.equal(formatSignificant(0.012345, 3), "0.0123");
  assert.equal(formatSignificant(999.96, 3), "1,000");
  assert.equal(formatGrouped(Number.NaN), "NaN");
});
