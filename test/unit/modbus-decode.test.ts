import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { parse } from "yaml";
import { decodeValue, MAX_REGISTERS_PER_READ, planReads } from "../../drivers/modbus/decode.ts";
import { MeterProfileSchema, type RegisterSpec } from "../../drivers/modbus/profile.ts";

const spec = (over: Partial<RegisterSpec>): RegisterSpec => ({
  address: 0,
  function: "input",
  type: "u16",
  wordOrder: "big",
  scale: 1,
  ...over,
});

function words(buf: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; i < buf.length; i += 2) out.push(buf.readUInt16BE(i));
  return out;
}

describe("decodeValue", () => {
  test("every register type, big word order", () => {
    const f32 = Buffer.alloc(4);
    f32.writeFloatBE(812345.5);
    assert.equal(decodeValue(words(f32), 0, spec({ type: "f32" })), Math.fround(812345.5));
    const f64 = Buffer.alloc(8);
    f64.writeDoubleBE(-1234.5678);
    assert.equal(decodeValue(words(f64), 0, spec({ type: "f64" })), -1234.5678);
    assert.equal(decodeValue([0xffff], 0, spec({ type: "s16" })), -1);
    assert.equal(decodeValue([0xffff], 0, spec({ type: "u16" })), 65535);
    assert.equal(decodeValue([0xffff, 0xfffe], 0, spec({ type: "s32" })), -2);
    assert.equal(decodeValue([0x0001, 0x0000], 0, spec({ type: "u32" })), 65536);
    assert.equal(decodeValue([0, 0, 1, 0], 0, spec({ type: "u64" })), 65536);
  });

  test("little word order swaps the words, not the bytes", () => {
    assert.equal(decodeValue([0x0000, 0x0001], 0, spec({ type: "u32", wordOrder: "little" })), 65536);
  });

  test("scale and offset into a block", () => {
    assert.equal(decodeValue([9, 9, 2301], 2, spec({ type: "u16", scale: 0.1 })), 230.10000000000002);
  });

  test("NaN sentinel and non-finite floats are null", () => {
    assert.equal(decodeValue([0x8000], 0, spec({ type: "s16", nanSentinel: -32768 })), null);
    assert.equal(decodeValue([0x7fc0, 0x0000], 0, spec({ type: "f32" })), null);
    assert.equal(decodeValue([0x0001], 0, spec({ type: "u32" })), null); // too few words
  });
});

describe("planReads", () => {
  test("the SDM630 profile reads in three requests (V/I block, P/PF/f block, energy)", () => {
    const profile = MeterProfileSchema.parse(
      parse(readFileSync(new URL("../../config/meters/sdm630.yaml", import.meta.url), "utf8")),
    );
    const blocks = planReads(profile.registers, profile.maxGap);
    assert.deepEqual(
      blocks.map((b) => [b.address, b.length]),
      [
        [0, 12],
        [0x34, 0x48 - 0x34],
        [0x156, 2],
      ],
    );
  });

  test("different functions never merge; gaps over maxGap split; 125-register cap holds", () => {
    const blocks = planReads(
      {
        powerW: spec({ address: 0, type: "f32" }),
        energyKwh: spec({ address: 4, type: "f32", function: "holding" }),
        frequencyHz: spec({ address: 20, type: "u16" }),
        powerFactor: spec({ address: 200, type: "u16" }),
      },
      10,
    );
    assert.deepEqual(
      blocks.map((b) => [b.function, b.address, b.length]),
      [
        ["holding", 4, 2],
        ["input", 0, 2],
        ["input", 20, 1],
        ["input", 200, 1],
      ],
    );
    const wide = planReads({ powerW: spec({ address: 0 }), energyKwh: spec({ address: 130 }) }, 200);
    assert.ok(wide.every((b) => b.length <= MAX_REGISTERS_PER_READ));
    assert.equal(wide.length, 2);
  });
});
