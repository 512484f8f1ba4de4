// The Sparkplug B edge node's commands → intents (refused with commands off),
// payloads through the Tahu codec, and the bdSeq kept across restarts.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { BdSeq } from "../../agent/exports/sparkplug/bdseq.ts";
import {
  birthPayload,
  dataPayload,
  decode,
  deviceDeathPayload,
  encode,
  nodeDeathPayload,
} from "../../agent/exports/sparkplug/codec.ts";
import { readCommand } from "../../agent/exports/sparkplug/commands.ts";
import { Aliases, type SpMetric } from "../../agent/exports/sparkplug/metrics.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";

describe("commands", () => {
  const aliases = new Aliases();
  const modeAlias = aliases.of(null, "Control/Mode");
  const actionAlias = aliases.of("m-001", "Control/Action");
  const devs = new Map([
    ["m-001", "miner" as const],
    ["pcc", "meter" as const],
  ]);
  const ctx = (acceptCommands: boolean) => ({
    acceptCommands,
    aliases,
    devices: devs,
    actor: { via: "sparkplug" as const, who: "scada" },
  });
  test("rebirth is honoured with commands off; every write is refused", () => {
    const r = readCommand(
      { kind: "NCMD" },
      [
        { name: "Node Control/Rebirth", value: true },
        { name: "Control/Mode", value: "hold" },
      ],
      ctx(false),
    );
    assert.deepEqual(r.intents, [{ kind: "rebirth" }]);
    assert.deepEqual(
      r.refusals.map((x) => [x.code, x.metric]),
      [["commands-off", "Control/Mode"]],
    );
    const d = readCommand(
      { kind: "DCMD", deviceId: "m-001" },
      [{ name: "Control/Action", value: "sleep" }],
      ctx(false),
    );
    assert.deepEqual(d.intents, []);
    assert.equal(d.refusals[0]?.code, "commands-off");
    assert.deepEqual(
      readCommand({ kind: "NCMD" }, [{ name: "Node Control/Rebirth", value: false }], ctx(false)),
      {
        intents: [],
        refusals: [],
      },
    );
  });
  test("with commands on: mode, lease, lease clear, device action (by name or alias)", () => {
    const n = readCommand(
      { kind: "NCMD" },
      [
        { alias: modeAlias, value: "hold" },
        { name: "Control/Lease W", value: 650_000 },
        { name: "Control/Lease TTL S", value: { toNumber: () => 600 } },
      ],
      ctx(true),
    );
    assert.deepEqual(n.refusals, []);
    assert.deepEqual(n.intents, [
      { kind: "mode", mode: "hold" },
      { kind: "lease", watts: 650_000, ttlS: 600, reason: "Sparkplug NCMD by scada" },
    ]);
    assert.deepEqual(
      readCommand({ kind: "NCMD" }, [{ name: "Control/Lease Clear", value: true }], ctx(true)).intents,
      [{ kind: "lease-clear" }],
    );
    const d = readCommand(
      { kind: "DCMD", deviceId: "m-001" },
      [{ alias: actionAlias, value: "sleep" }],
      ctx(true),
    );
    assert.deepEqual(d.intents, [
      { kind: "device", req: { id: "m-001", action: "sleep", reason: "Sparkplug DCMD by scada" } },
    ]);
  });
  test("bad values, unknown metrics and devices are refused with a reason", () => {
    const codes = (t: Parameters<typeof readCommand>[0], m: Parameters<typeof readCommand>[1]) =>
      readCommand(t, m, ctx(true)).refusals.map((r) => r.code);
    assert.deepEqual(codes({ kind: "NCMD" }, [{ name: "Control/Mode", value: "turbo" }]), ["invalid"]);
    assert.deepEqual(codes({ kind: "NCMD" }, [{ name: "Control/Lease W", value: 1000 }]), ["invalid"]);
    assert.deepEqual(
      codes({ kind: "NCMD" }, [
        { name: "Control/Lease W", value: -5 },
        { name: "Control/Lease TTL S", value: 60 },
      ]),
      ["invalid"],
    );
    assert.deepEqual(codes({ kind: "NCMD" }, [{ name: "Site/Power W", value: 1 }]), ["not-writable"]);
    assert.deepEqual(codes({ kind: "NCMD" }, [{ alias: actionAlias, value: "sleep" }]), ["unknown-metric"]);
    assert.deepEqual(
      codes({ kind: "DCMD", deviceId: "nope" }, [{ name: "Control/Action", value: "sleep" }]),
      ["unknown-device"],
    );
    assert.deepEqual(codes({ kind: "DCMD", deviceId: "pcc" }, [{ name: "Control/Action", value: "sleep" }]), [
      "not-writable",
    ]);
    assert.deepEqual(
      codes({ kind: "DCMD", deviceId: "m-001" }, [{ name: "Control/Action", value: "reboot" }]),
      ["invalid"],
    );
    assert.deepEqual(codes({ kind: "NCMD" }, [{ name: "Node Control/Rebirth", value: "yes" }]), ["invalid"]);
  });
});

describe("payloads through the Tahu codec", () => {
  const aliases = new Aliases();
  const metrics: SpMetric[] = [
    { name: "Site/Power W", type: "Double", value: 1234.5 },
    { name: "Counts/Hashing", type: "Int32", value: 7 },
    { name: "Control/Mode", type: "String", value: "auto" },
    { name: "Site/Healthy", type: "Boolean", value: true },
    { name: "Site/Aux Power W", type: "Double", value: null },
  ];
  test("NBIRTH carries bdSeq, names, aliases and datatypes; NDATA aliases only", () => {
    const birth = decode(
      birthPayload({ deviceId: null, metrics, aliases, seq: 0, now: 1_700_000_000_000, bdSeq: 42 }),
    );
    assert.equal(Number(birth.seq), 0);
    const bd = birth.metrics?.[0];
    assert.equal(bd?.name, "bdSeq");
    assert.equal(Number(bd?.value), 42);
    const pw = birth.metrics?.find((m) => m.name === "Site/Power W");
    assert.equal(pw?.type, "Double");
    assert.equal(pw?.value, 1234.5);
    assert.equal(Number(pw?.alias), aliases.of(null, "Site/Power W"));
    assert.equal(birth.metrics?.find((m) => m.name === "Site/Aux Power W")?.value, null);
    const data = decode(
      dataPayload({ deviceId: null, metrics: [metrics[1]!], aliases, seq: 17, now: 1_700_000_000_001 }),
    );
    assert.equal(Number(data.seq), 17);
    assert.equal(data.metrics?.length, 1);
    assert.equal(data.metrics?.[0]?.name, undefined);
    assert.equal(Number(data.metrics?.[0]?.alias), aliases.of(null, "Counts/Hashing"));
    assert.equal(data.metrics?.[0]?.value, 7);
  });
  test("NDEATH has bdSeq and no seq; DDEATH a seq", () => {
    const death = decode(nodeDeathPayload(200, 1));
    assert.equal(death.seq, undefined);
    assert.deepEqual(
      death.metrics?.map((m) => [m.name, Number(m.value)]),
      [["bdSeq", 200]],
    );
    assert.equal(Number(decode(deviceDeathPayload(255, 1)).seq), 255);
    assert.ok(encode({ timestamp: 1 }).length > 0);
  });
});

describe("bdSeq", () => {
  test("one per connection, 0–255 wrapping, carried on across restarts through its file", () => {
    const file = join(mkdtempSync(join(tmpdir(), "wk-bdseq-")), "state.db-sparkplug-bdseq");
    const a = new BdSeq(file, silentLogger());
    assert.equal(a.next(), 0);
    assert.equal(a.next(), 1);
    assert.equal(readFileSync(file, "utf8").trim(), "1");
    // a restart (say after kill -9) goes on from the last session's number
    assert.equal(new BdSeq(file, silentLogger()).next(), 2);
    writeFileSync(file, "255\n");
    assert.equal(new BdSeq(file, silentLogger()).next(), 0);
    writeFileSync(file, "garbage");
    assert.equal(new BdSeq(file, silentLogger()).next(), 0);
    const mem = new BdSeq(null, silentLogger());
    assert.deepEqual([mem.next(), mem.next()], [0, 1]);
  });
  test("an unwritable file leaves it counting in memory", () => {
    const b = new BdSeq("/nonexistent-dir/for/sure/bdseq", silentLogger());
    assert.deepEqual([b.next(), b.next(), b.next()], [0, 1, 2]);
  });
});
