// MinerDriver's shared write path with a scripted dialect (a fake of our own
// interface; the real dialects are tested against the simulator).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { failedReading } from "../../drivers/cgminer/client.ts";
import { dialectFromText } from "../../drivers/cgminer/detect.ts";
import {
  type DialectSpec,
  MinerDriver,
  RECONFIRM_WITHDRAWN_MS,
  REPROBE_UNANSWERED_MS,
} from "../../drivers/cgminer/driver.ts";
import { confirms } from "../../drivers/cgminer/write.ts";
import { DriverError, type MinerReading } from "../../drivers/types.ts";

function reading(over: Partial<MinerReading>): MinerReading {
  return { ...failedReading(0, "hashing", null as unknown as string), reason: null, ...over };
}

function scripted(opts: {
  reads: MinerReading[];
  write?: (n: number) => void;
  capabilities?: DialectSpec["capabilities"];
}) {
  let readCount = 0;
  let writes = 0;
  const spec: DialectSpec = {
    name: "luxos",
    capabilities: opts.capabilities ?? (() => ["sleep", "wake", "setPowerLimit", "reboot"]),
    read: async () => opts.reads[Math.min(readCount++, opts.reads.length - 1)]!,
    write: async () => {
      writes++;
      opts.write?.(writes);
    },
  };
  const driver = new MinerDriver(
    spec,
    { host: "x", port: 1 },
    { confirm: { confirmTimeoutMs: 50, pollMs: 5, retries: 3 } },
  );
  return { driver, writes: () => writes };
}

describe("confirms()", () => {
  const hashing = reading({ state: "hashing", powerW: 3200, uptimeS: 1000 });
  test("sleep needs the sleeping state and power down against the reading before", () => {
    assert.equal(confirms({ action: "sleep" }, hashing, reading({ state: "sleeping", powerW: 30 })), true);
    assert.equal(confirms({ action: "sleep" }, hashing, reading({ state: "sleeping", powerW: 3100 })), false);
    // zero hashrate alone is not a sleep: a pool-less miner hashes at zero
    assert.equal(
      confirms({ action: "sleep" }, hashing, reading({ state: "faulted", hashrateThs: 0, powerW: 3100 })),
      false,
    );
  });
  test("wake: leaving sleep; power limit: the limit read back (or power under it); reboot: uptime reset", () => {
    assert.equal(confirms({ action: "wake" }, hashing, reading({ state: "starting" })), true);
    assert.equal(confirms({ action: "wake" }, hashing, reading({ state: "sleeping" })), false);
    assert.equal(
      confirms({ action: "setPowerLimit", value: 2500 }, hashing, reading({ powerLimitW: 2500 })),
      true,
    );
    assert.equal(
      confirms({ action: "setPowerLimit", value: 2500 }, hashing, reading({ powerLimitW: 3000 })),
      false,
    );
    assert.equal(
      confirms({ action: "setPowerLimit", value: 2500 }, hashing, reading({ powerW: 2490 })),
      true,
    );
    assert.equal(confirms({ action: "reboot" }, hashing, reading({ state: "starting", uptimeS: 5 })), true);
    assert.equal(
      confirms({ action: "reboot" }, hashing, reading({ state: "hashing", uptimeS: 2000 })),
      false,
    );
  });
});

describe("MinerDriver.write", () => {
  test("confirmed by read-back after one send", async () => {
    const { driver, writes } = scripted({
      reads: [reading({ powerW: 3200 }), reading({ state: "sleeping", powerW: 25 })],
    });
    const out = await driver.sleep();
    assert.equal(out.ok, true);
    assert.equal(out.attempts, 1);
    assert.equal(writes(), 1);
    assert.equal(out.before?.powerW, 3200);
    assert.equal(out.after?.powerW, 25);
  });

  test("an acknowledged write without effect is retried, then reported with what the miner reads", async () => {
    const { driver, writes } = scripted({ reads: [reading({ powerW: 3200 })] });
    const out = await driver.sleep();
    assert.equal(out.ok, false);
    assert.equal(writes(), 3);
    assert.match(out.reason!, /not confirmed .* miner reads hashing at 3200 W/);
  });

  test("a non-retryable refusal stops at once with its reason", async () => {
    const { driver, writes } = scripted({
      reads: [reading({ powerW: 3200 })],
      write: () => {
        throw new DriverError("WK_LUXOS_ACCESS_DENIED", "access denied", false);
      },
    });
    const out = await driver.sleep();
    assert.equal(out.ok, false);
    assert.equal(writes(), 1);
    assert.equal(out.reason, "WK_LUXOS_ACCESS_DENIED: access denied");
  });

  test("a retryable failure is retried and can succeed", async () => {
    const { driver, writes } = scripted({
      reads: [reading({ powerW: 3200 }), reading({ state: "sleeping", powerW: 20 })],
      write: (n) => {
        if (n === 1) throw new DriverError("WK_CGMINER_TIMEOUT", "timeout", true);
      },
    });
    const out = await driver.sleep();
    assert.equal(out.ok, true);
    assert.equal(writes(), 2);
  });

  test("a capability the dialect lacks is refused without sending anything", async () => {
    const { driver, writes } = scripted({ reads: [reading({})], capabilities: () => ["sleep", "wake"] });
    const out = await driver.setPowerLimit(2000);
    assert.equal(out.ok, false);
    assert.equal(writes(), 0);
    assert.match(out.reason!, /cannot setPowerLimit/);
    assert.deepEqual(driver.describe(), { dialect: "luxos", capabilities: ["sleep", "wake"], withdrawn: [] });
  });
});

describe("capabilities confirmed at first contact", () => {
  function probing(
    answers: Array<
      Array<{ capability: "sleep" | "wake" | "setPowerLimit" | "reboot"; reason: string }> | Error
    >,
  ) {
    let probes = 0;
    let writes = 0;
    let now = 1_000_000;
    let state: MinerReading["state"] = "hashing";
    const spec: DialectSpec = {
      name: "luxos",
      capabilities: () => ["sleep", "wake", "setPowerLimit", "reboot"],
      read: async () => reading({ state }),
      write: async () => {
        writes++;
      },
      confirmCapabilities: async () => {
        const a = answers[Math.min(probes++, answers.length - 1)]!;
        if (a instanceof Error) throw a;
        return a;
      },
    };
    const driver = new MinerDriver(spec, { host: "x", port: 1 }, { now: () => now });
    return {
      driver,
      probes: () => probes,
      writes: () => writes,
      advance: (ms: number) => {
        now += ms;
      },
      setState: (s: MinerReading["state"]) => {
        state = s;
      },
    };
  }
  const notLuxos = (["sleep", "wake", "setPowerLimit", "reboot"] as const).map((capability) => ({
    capability,
    reason: "no LuxOS session: logon answered Invalid command (Code 14)",
  }));

  test("a refused probe withdraws the capabilities, with the reason; a write is refused without sending", async () => {
    const t = probing([notLuxos]);
    await t.driver.read();
    await t.driver.confirmed();
    assert.deepEqual([...t.driver.capabilities], []);
    assert.equal(t.driver.withdrawn.length, 4);
    const out = await t.driver.sleep();
    assert.equal(out.ok, false);
    assert.equal(out.attempts, 0);
    assert.match(out.reason!, /^sleep not offered by this miner: no LuxOS session/);
    assert.equal(t.writes(), 0);
    assert.equal(t.probes(), 1, "asked once, not at every read");
    await t.driver.read();
    await t.driver.confirmed();
    assert.equal(t.probes(), 1);
  });

  test("an unanswered probe keeps the declared set and asks again a little later, not at every read", async () => {
    const t = probing([new Error("timeout"), []]);
    await t.driver.read();
    await t.driver.confirmed();
    assert.equal(t.driver.capabilities.size, 4);
    await t.driver.read();
    await t.driver.confirmed();
    assert.equal(t.probes(), 1, "not again at once");
    t.advance(REPROBE_UNANSWERED_MS);
    await t.driver.read();
    await t.driver.confirmed();
    assert.equal(t.probes(), 2);
    await t.driver.read();
    await t.driver.confirmed();
    assert.equal(t.probes(), 2, "confirmed: not asked again");
  });

  test("withdrawn ones are asked again after a while (a firmware update), and after an outage", async () => {
    const t = probing([notLuxos, []]);
    await t.driver.read();
    await t.driver.confirmed();
    assert.equal(t.driver.capabilities.size, 0);
    t.advance(RECONFIRM_WITHDRAWN_MS);
    await t.driver.read();
    await t.driver.confirmed();
    assert.equal(t.driver.capabilities.size, 4);
    assert.deepEqual(t.driver.withdrawn, []);
    t.setState("unreachable");
    await t.driver.read();
    await t.driver.confirmed();
    t.setState("hashing");
    await t.driver.read();
    await t.driver.confirmed();
    assert.equal(t.probes(), 3, "back after an outage: asked again");
  });

  test("a first write before any read probes first", async () => {
    const t = probing([notLuxos]);
    const out = await t.driver.wake();
    assert.equal(out.ok, false);
    assert.equal(t.probes(), 1);
    assert.equal(t.writes(), 0);
  });
});

describe("dialect detection markers", () => {
  const cases: Array<[string, string | null]> = [
    ['{"VERSION":[{"LUXminer":"2024.6.0"}]}', "luxos"],
    ['{"VERSION":[{"BOSminer":"0.2.0"}]}', "braiins"],
    ['{"VERSION":[{"BOSer":"boser-buildroot"}]}', "braiins"],
    ['{"Msg":{"api_ver":"2.0.5","fw_ver":"20230301.22.REL","btminer":"x"}}', "whatsminer"],
    ['{"DEVDETAILS":[{"Model":"AvalonMiner 1246"}]}', "avalon"],
    ['{"VERSION":[{"BMMiner":"4.11.1","Type":"Antminer S19j Pro"}]}', null],
  ];
  for (const [text, want] of cases) {
    test(`${want ?? "stock"} from ${text.slice(0, 40)}`, () => assert.equal(dialectFromText(text), want));
  }
});
