// The shipped meter profiles: each validates with the drivers' own schema (the
// same one an inline map goes through), names its vendor document in its
// header and `source`, and keeps the addresses checked against that document.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { parse } from "yaml";
import { planReads } from "../../drivers/modbus/decode.ts";
import { type MeterProfile, MeterProfileSchema } from "../../drivers/modbus/profile.ts";

const DIR = new URL("../../config/meters/", import.meta.url);
const files = readdirSync(DIR).filter((f) => f.endsWith(".yaml"));
const text = (f: string) => readFileSync(new URL(f, DIR), "utf8");
const load = (name: string): MeterProfile => MeterProfileSchema.parse(parse(text(`${name}.yaml`)));

describe("shipped meter profiles", () => {
  test("the six vendor maps the issue asks for are there", () => {
    assert.deepEqual(files.sort(), [
      "accuvim2.yaml",
      "em24.yaml",
      "pm5xxx.yaml",
      "sdm120.yaml",
      "sdm630.yaml",
      "umg96.yaml",
    ]);
  });

  for (const f of files) {
    test(`${f}: valid, named after its file, sourced, read in ≤ 3 requests`, () => {
      const p = MeterProfileSchema.parse(parse(text(f)));
      assert.equal(`${p.name}.yaml`, f);
      assert.ok(p.vendor && p.source && p.source.length > 20, "vendor and source document");
      assert.match(text(f), /^# .*\n# /, "a header comment");
      assert.ok(planReads(p.registers, p.maxGap).length <= 3);
      for (const [k, spec] of Object.entries(p.registers)) {
        assert.ok(spec.min !== undefined || spec.max !== undefined, `${k}: a plausible range`);
      }
    });
  }

  test("addresses as the vendor documents give them (wire = 0-based)", () => {
    const at = (name: string) => {
      const r = load(name).registers;
      return Object.fromEntries(
        Object.entries(r).map(([k, v]) => [k, [v.address, v.function, v.type, v.wordOrder, v.scale]]),
      );
    };
    assert.deepEqual(at("sdm630").powerW, [0x34, "input", "f32", "big", 1]);
    assert.deepEqual(at("sdm120").powerW, [0x0c, "input", "f32", "big", 1]);
    assert.deepEqual(at("sdm120").energyKwh, [0x156, "input", "f32", "big", 1]);
    assert.deepEqual(at("pm5xxx").powerW, [3059, "holding", "f32", "big", 1000], "register 3060, kW");
    assert.deepEqual(at("pm5xxx").energyKwh, [3203, "holding", "u64", "big", 0.001], "register 3204, Wh");
    assert.deepEqual(at("accuvim2").powerW, [0x4022, "holding", "f32", "big", 1]);
    assert.deepEqual(at("accuvim2").frequencyHz, [0x4000, "holding", "f32", "big", 1]);
    assert.deepEqual(at("umg96").powerW, [19026, "holding", "f32", "big", 1]);
    assert.deepEqual(at("umg96").frequencyHz, [19050, "holding", "f32", "big", 1]);
    assert.deepEqual(at("em24").powerW, [0x28, "input", "s32", "little", 0.1], "INT32 LSW first, W×10");
    assert.deepEqual(at("em24").energyKwh, [0x3e, "input", "s32", "little", 0.1]);
    assert.deepEqual(at("em24").frequencyHz, [0x37, "input", "u16", "big", 0.1]);
  });
});
