// Config of prices as a trusted input: plausibility bounds (with defaults),
// a fixed price must lie within them, min < max, and signed prices need the
// command keys that verify them.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ConfigError, loadConfig } from "../../config/load.ts";

const tmp = mkdtempSync(join(tmpdir(), "wk-config-prices-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
function write(control: string, mqtt = ""): string {
  const file = join(tmp, `site${n++}.yaml`);
  writeFileSync(
    file,
    `site: { id: p, timezone: UTC, contractLimitW: 1MW }
${mqtt}
control:
${control}
`,
  );
  return file;
}

async function problems(file: string): Promise<Array<{ path: string; message: string }>> {
  try {
    await loadConfig(file, { env: {} });
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.problems.map((p) => ({ path: p.path, message: p.message }));
  }
  return [];
}

describe("economics: prices as a trusted input", () => {
  it("defaults: energy price −1 … 10 ¤/kWh for 2 h, hashprice 0 … 5 ¤/TH/day for 48 h, unsigned", async () => {
    const { config } = await loadConfig(
      write("  economics: { hashpricePerThDay: 0.05, energyPricePerKwh: 0.03 }"),
      { env: {} },
    );
    const e = config.control.economics!;
    assert.deepEqual(e.energyPrice, { min: -1, max: 10, maxAgeS: 7200 });
    assert.deepEqual(e.hashprice, { min: 0, max: 5, maxAgeS: 172_800 });
    assert.equal(e.signedPrices, false);
  });

  it("a fixed price outside its bounds is a problem at its own path", async () => {
    assert.deepEqual(
      await problems(
        write("  economics: { hashpricePerThDay: 0.05, energyPricePerKwh: 30, energyPrice: { max: 20 } }"),
      ),
      [
        {
          path: "control.economics.energyPricePerKwh",
          message: "30 is outside the plausible range -1 … 20 (energyPrice.min/max)",
        },
      ],
    );
  });

  it("min must be below max", async () => {
    const p = await problems(
      write(
        "  economics: { hashpricePerThDay: 0.05, energyPricePerKwh: 0.1, hashprice: { min: 1, max: 1 } }",
      ),
    );
    assert.deepEqual(p, [
      { path: "control.economics.hashprice.max", message: "must be greater than min (1)" },
    ]);
  });

  it("signed prices need mqtt.commandKeys", async () => {
    const p = await problems(
      write(
        "  economics: { hashpricePerThDay: 0.05, energyPriceTopic: prices/x, signedPrices: true }",
        "mqtt: { url: mqtt://127.0.0.1:1883 }",
      ),
    );
    assert.deepEqual(p, [
      {
        path: "control.economics.signedPrices",
        message: "needs mqtt.commandKeys: price messages are verified with the command keys",
      },
    ]);
  });
});
