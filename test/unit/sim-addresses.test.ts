// Loopback address allocation for simulated fleets, and the sim meter's register encoder.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { allocateAddresses, toRanges } from "../../sim/addresses.ts";
import { encodeRegister } from "../../sim/modbus/meter.ts";

describe("sim addresses", () => {
  test("increments the last octets, skipping .0 and .255", () => {
    assert.deepEqual(allocateAddresses("127.1.0.253", 4), [
      "127.1.0.253",
      "127.1.0.254",
      "127.1.1.1",
      "127.1.1.2",
    ]);
    assert.deepEqual(allocateAddresses("127.1.0.0", 1), ["127.1.0.1"]);
    assert.equal(allocateAddresses("127.1.0.1", 5000).length, 5000);
    assert.equal(new Set(allocateAddresses("127.1.0.1", 5000)).size, 5000);
    assert.ok(allocateAddresses("127.1.0.1", 5000).every((a) => !/\.(0|255)$/.test(a)));
  });

  test("stays inside 127/8 and rejects bad input", () => {
    assert.throws(() => allocateAddresses("127.255.255.250", 10), /ran past 127\.255\.255\.254/);
    assert.throws(() => allocateAddresses("127.1.0", 1), /not an IPv4/);
    assert.throws(() => allocateAddresses("127.1.0.1", -1), /bad address count/);
  });

  test("toRanges: one range per contiguous run within a /24", () => {
    assert.deepEqual(toRanges(allocateAddresses("127.1.0.250", 8)), [
      "127.1.0.250-127.1.0.254",
      "127.1.1.1-127.1.1.3",
    ]);
    assert.deepEqual(toRanges(["127.1.0.9"]), ["127.1.0.9"]);
    assert.deepEqual(toRanges([]), []);
  });
});

describe("sim meter register encoding", () => {
  const spec = { address: 0, function: "input", wordOrder: "big", scale: 1 } as const;
  test("f32 big-endian words, high word first; little reverses the words", () => {
    const words = encodeRegister(230.5, { ...spec, type: "f32" });
    const b = Buffer.alloc(4);
    b.writeUInt16BE(words[0]!, 0);
    b.writeUInt16BE(words[1]!, 2);
    assert.equal(b.readFloatBE(0), 230.5);
    assert.deepEqual(
      encodeRegister(230.5, { ...spec, type: "f32", wordOrder: "little" }),
      [...words].reverse(),
    );
  });

  test("integer types apply scale, sign and clamping", () => {
    assert.deepEqual(encodeRegister(123.4, { ...spec, type: "u16", scale: 0.1 }), [1234]);
    assert.deepEqual(encodeRegister(-2, { ...spec, type: "s16" }), [0xfffe]);
    assert.deepEqual(encodeRegister(70000, { ...spec, type: "u32" }), [1, 4464]);
    assert.deepEqual(encodeRegister(-1, { ...spec, type: "s32" }), [0xffff, 0xffff]);
    assert.deepEqual(encodeRegister(1, { ...spec, type: "u64" }), [0, 0, 0, 1]);
    assert.deepEqual(encodeRegister(1e9, { ...spec, type: "u16" }), [0xffff]);
    assert.deepEqual(encodeRegister(Number.NaN, { ...spec, type: "u16", nanSentinel: 0x8000 }), [0x8000]);
  });
});
