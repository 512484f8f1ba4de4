// RFC 8785 (JCS) examples: the canonical form a command signature covers.
import assert from "node:assert/strict";
import { test } from "node:test";
import { canonicalize, JcsError } from "../../agent/mqtt/jcs.ts";

test("RFC 8785 §3.2.2: the sample input canonicalizes to the RFC's output", () => {
  const input = JSON.parse(`{
    "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
    "string": "\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\"\\/",
    "literals": [null, true, false]
  }`);
  assert.equal(
    canonicalize(input),
    `{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA'B\\"\\\\\\\\\\"/"}`,
  );
});

test("RFC 8785 §3.2.3: properties sorted by UTF-16 code units", () => {
  const input = JSON.parse(`{
    "\\u20ac": "Euro Sign",
    "\\r": "Carriage Return",
    "\\ufb33": "Hebrew Letter Dalet With Dagesh",
    "1": "One",
    "\\ud83d\\ude00": "Emoji: Grinning Face",
    "\\u0080": "Control",
    "\\u00f6": "Latin Small Letter O With Diaeresis"
  }`);
  const keys = [...canonicalize(input).matchAll(/"([^"]*)":"([^"]*)"/g)].map((m) => m[2]);
  assert.deepEqual(keys, [
    "Carriage Return",
    "One",
    "Control",
    "Latin Small Letter O With Diaeresis",
    "Euro Sign",
    "Emoji: Grinning Face",
    "Hebrew Letter Dalet With Dagesh",
  ]);
});

test("RFC 8785 Appendix B: number serialization from IEEE 754 bit patterns", () => {
  const cases: Array<[string, string]> = [
    ["0000000000000000", "0"],
    ["8000000000000000", "0"],
    ["0000000000000001", "5e-324"],
    ["8000000000000001", "-5e-324"],
    ["7fefffffffffffff", "1.7976931348623157e+308"],
    ["ffefffffffffffff", "-1.7976931348623157e+308"],
    ["4340000000000000", "9007199254740992"],
    ["c340000000000000", "-9007199254740992"],
    ["4430000000000000", "295147905179352830000"],
    ["44b52d02c7e14af5", "9.999999999999997e+22"],
    ["44b52d02c7e14af6", "1e+23"],
    ["44b52d02c7e14af7", "1.0000000000000001e+23"],
    ["444b1ae4d6e2ef4e", "999999999999999700000"],
    ["444b1ae4d6e2ef4f", "999999999999999900000"],
    ["444b1ae4d6e2ef50", "1e+21"],
    ["3eb0c6f7a0b5ed8c", "9.999999999999997e-7"],
    ["3eb0c6f7a0b5ed8d", "0.000001"],
    ["41b3de4355555553", "333333333.3333332"],
    ["41b3de4355555554", "333333333.33333325"],
    ["41b3de4355555555", "333333333.3333333"],
    ["41b3de4355555556", "333333333.3333334"],
    ["41b3de4355555557", "333333333.33333343"],
    ["becbf647612f3696", "-0.0000033333333333333333"],
    ["43143ff3c1cb0959", "1424953923781206.2"],
  ];
  for (const [hex, want] of cases) {
    const n = Buffer.from(hex, "hex").readDoubleBE(0);
    assert.equal(canonicalize(n), want, hex);
  }
});

test("nested values, no whitespace, undefined members left out", () => {
  assert.equal(
    canonicalize({ b: [1, { d: 2, c: "x" }], a: {}, z: undefined }),
    `{"a":{},"b":[1,{"c":"x","d":2}]}`,
  );
  assert.equal(canonicalize([]), "[]");
  assert.equal(canonicalize("\u2028"), `"\u2028"`);
});

test("NaN, Infinity and lone surrogates are not JSON: refused", () => {
  assert.throws(() => canonicalize(Number.NaN), JcsError);
  assert.throws(() => canonicalize({ a: Number.POSITIVE_INFINITY }), JcsError);
  assert.throws(() => canonicalize("\ud800x"), JcsError);
  assert.equal(canonicalize("\ud83d\ude00"), `"😀"`);
});
