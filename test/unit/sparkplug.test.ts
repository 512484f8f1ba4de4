// The Sparkplug B edge node's pure parts: topics, seq wrapping, the metrics
// of the node and its devices (types, aliases unique per node), report by
// exception, commands → intents (refused with commands off), and payloads
// through the Tahu codec.
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
import { changedMetrics, isChange, remember } from "../../agent/exports/sparkplug/exception.ts";
import {
  Aliases,
  deviceMetrics,
  nodeMetrics,
  type SpMetric,
  type SpValue,
} from "../../agent/exports/sparkplug/metrics.ts";
import { nextSeq, SparkplugTopics } from "../../agent/exports/sparkplug/topics.ts";
import type { DevicesView, SiteView } from "../../agent/http/types.ts";
import { silentLogger } from "../../agent/runtime/logger.ts";

const site: SiteView = {
  siteId: "odessa-1",
  powerW: 812_345.5,
  budgetW: 900_000,
  budgetReason: "contract",
  budgetSource: "contract",
  alarms: ["ai-capped"],
  mode: "auto",
  classes: { ai: { powerW: 300_000 }, mining: { powerW: 480_000 }, aux: { powerW: null } },
  counts: { hashing: 10, sleeping: 2, starting: 0, faulted: 1, unreachable: 1, excluded: 0 },
  hashrateThs: 1234.5,
  meter: { ok: true, ageS: 0.4 },
  broker: null,
  gateway: null,
  lease: { watts: 700_000, expiresAt: new Date(1_000_000 + 300_000).toISOString(), reason: "DR 4471" },
};

const devices = {
  miners: [
    {
      id: "m-001",
      class: "mining",
      excluded: false,
      state: "hashing",
      reason: null,
      powerW: 3250,
      powerEstimated: false,
      powerLimitW: 3500,
      hashrateThs: 110.2,
      chipTempMaxC: 71,
      boardTempsC: [60, 62],
      model: "S19 XP",
      firmware: "LuxOS",
      dialect: "luxos",
      location: "c1",
      priority: 5,
    },
    { id: "m-002", class: "mining", excluded: true, state: null, at: null, location: null, priority: 5 },
  ],
  meters: [{ id: "pcc", role: "site", ok: true, ageS: 0.3, powerW: 812_345.5, reason: null }],
  gpuNodes: [
    {
      id: "gpu-a",
      class: "ai",
      excluded: false,
      state: "ok",
      reason: null,
      powerW: 5600,
      location: "hall",
      gpus: [
        { index: 0, powerW: 700, enforcedPowerLimitW: 700, powerLimitW: 700, tempC: 65, busy: true },
        { index: 1, powerW: 690, enforcedPowerLimitW: 650, powerLimitW: 700, tempC: 70, busy: false },
      ],
    },
  ],
} as unknown as DevicesView;

describe("topics", () => {
  const t = new SparkplugTopics("mining", "odessa-1");
  test("node, device and STATE topics follow Sparkplug 3.0", () => {
    assert.equal(t.node("NBIRTH"), "spBv1.0/mining/NBIRTH/odessa-1");
    assert.equal(t.node("NDEATH"), "spBv1.0/mining/NDEATH/odessa-1");
    assert.equal(t.device("DDATA", "m-001"), "spBv1.0/mining/DDATA/odessa-1/m-001");
    assert.equal(SparkplugTopics.state("scada"), "spBv1.0/STATE/scada");
    assert.deepEqual(t.subscriptions(null), [
      "spBv1.0/mining/NCMD/odessa-1",
      "spBv1.0/mining/DCMD/odessa-1/+",
    ]);
    assert.equal(t.subscriptions("scada").at(-1), "spBv1.0/STATE/scada");
  });
  test("incoming topics are read, others ignored", () => {
    assert.deepEqual(t.parse("spBv1.0/mining/NCMD/odessa-1"), { kind: "NCMD" });
    assert.deepEqual(t.parse("spBv1.0/mining/DCMD/odessa-1/m-001"), { kind: "DCMD", deviceId: "m-001" });
    assert.deepEqual(t.parse("spBv1.0/STATE/scada"), { kind: "STATE", hostId: "scada" });
    assert.equal(t.parse("spBv1.0/mining/NCMD/other"), null);
    assert.equal(t.parse("spBv1.0/other/NCMD/odessa-1"), null);
    assert.equal(t.parse("spBv1.0/mining/NDATA/odessa-1"), null);
    assert.equal(t.parse("wattkeeper/v1/odessa-1/cmd"), null);
  });
  test("seq counts 0–255 and wraps", () => {
    let s = 0;
    const seen: number[] = [];
    for (let i = 0; i < 600; i++) {
      seen.push(s);
      s = nextSeq(s);
    }
    assert.equal(seen[255], 255);
    assert.equal(seen[256], 0);
    assert.equal(seen[599], 599 % 256);
    assert.ok(seen.every((x) => x >= 0 && x <= 255));
  });
});

describe("metrics", () => {
  const node = nodeMetrics({
    site,
    version: "0.1.0",
    unhealthyReason: null,
    reportByExceptionW: 500,
    now: 1_000_000,
  });
  const byName = new Map(node.map((m) => [m.name, m]));
  test("hashrate has a 2 % deadband of itself: share-window noise is not republished", () => {
    const h = byName.get("Site/Hashrate THs")!;
    assert.equal(typeof h.value, "number");
    assert.ok(Math.abs((h.deadband ?? 0) - (h.value as number) * 0.02) < 1e-9, String(h.deadband));
    assert.equal(isChange(h.value, (h.value as number) * 1.01, h.deadband), false);
    assert.equal(isChange(h.value, (h.value as number) * 1.03, h.deadband), true);
  });

  test("node metrics are typed, with the rebirth control and the lease", () => {
    assert.deepEqual(byName.get("Node Control/Rebirth"), {
      name: "Node Control/Rebirth",
      type: "Boolean",
      value: false,
    });
    assert.equal(byName.get("Site/Power W")?.type, "Double");
    assert.equal(byName.get("Site/Power W")?.value, 812_345.5);
    assert.equal(byName.get("Site/Power W")?.deadband, 500);
    assert.equal(byName.get("Site/Budget Source")?.value, "contract");
    assert.equal(byName.get("Site/Aux Power W")?.value, null);
    assert.equal(byName.get("Counts/Hashing")?.type, "Int32");
    assert.equal(byName.get("Counts/Hashing")?.value, 10);
    assert.equal(byName.get("Site/Healthy")?.value, true);
    assert.equal(byName.get("Site/Alarms")?.value, "ai-capped");
    assert.equal(byName.get("Control/Mode")?.value, "auto");
    assert.equal(byName.get("Control/Lease W")?.value, 700_000);
    assert.equal(byName.get("Control/Lease TTL S")?.value, 300);
    assert.equal(new Set(node.map((m) => m.name)).size, node.length, "names unique");
  });
  test("device metrics for miners, GPU nodes and meters, with unknowns null", () => {
    const d = deviceMetrics({
      devices,
      reportByExceptionW: 0,
      lastActions: new Map([["m-001", "sleep: done"]]),
    });
    assert.deepEqual(
      d.map((x) => [x.deviceId, x.kind]),
      [
        ["m-001", "miner"],
        ["m-002", "miner"],
        ["gpu-a", "gpu-node"],
        ["pcc", "meter"],
      ],
    );
    const m1 = new Map(d[0]!.metrics.map((m) => [m.name, m]));
    assert.equal(m1.get("State")?.value, "hashing");
    assert.equal(m1.get("Power W")?.type, "Double");
    assert.equal(m1.get("Hashrate THs")?.value, 110.2);
    assert.equal(m1.get("Control/Last Action")?.value, "sleep: done");
    const m2 = new Map(d[1]!.metrics.map((m) => [m.name, m]));
    assert.equal(m2.get("State")?.value, "unknown");
    assert.equal(m2.get("Power W")?.value, null);
    assert.equal(m2.get("Excluded")?.value, true);
    const g = new Map(d[2]!.metrics.map((m) => [m.name, m]));
    assert.equal(g.get("Power Limit W")?.value, 1350);
    assert.equal(g.get("GPUs")?.value, 2);
    assert.equal(g.get("GPUs Busy")?.value, 1);
    assert.equal(g.get("Temp Max C")?.value, 70);
    const meter = new Map(d[3]!.metrics.map((m) => [m.name, m]));
    assert.equal(meter.get("OK")?.value, true);
    assert.equal(meter.get("Role")?.value, "site");
    assert.equal(meter.has("Control/Action"), false, "a meter takes no actions");
  });
  test("aliases are unique across the node and its devices, and stable", () => {
    const a = new Aliases();
    const all: number[] = node.map((m) => a.of(null, m.name));
    for (const d of deviceMetrics({ devices, reportByExceptionW: 0, lastActions: new Map() })) {
      for (const m of d.metrics) all.push(a.of(d.deviceId, m.name));
    }
    assert.equal(new Set(all).size, all.length);
    assert.equal(a.of(null, "Site/Power W"), all[node.findIndex((m) => m.name === "Site/Power W")]);
    assert.deepEqual(a.lookup(a.of("gpu-a", "Power W")), { deviceId: "gpu-a", name: "Power W" });
    assert.equal(a.lookup(99_999), undefined);
  });
});

describe("report by exception", () => {
  test("deadbands: powers move past reportByExceptionW, others on any change", () => {
    assert.equal(isChange(undefined, 1), true);
    assert.equal(isChange(1000, 1400, 500), false);
    assert.equal(isChange(1000, 1501, 500), true);
    assert.equal(isChange(1000, 1000.1, 0), true);
    assert.equal(isChange(null, 0), true);
    assert.equal(isChange(0, null), true);
    assert.equal(isChange(null, null), false);
    assert.equal(isChange("hashing", "hashing"), false);
    assert.equal(isChange("hashing", "sleeping"), true);
    assert.equal(isChange(true, false), true);
  });
  test("a slow drift is reported once it adds up; unchanged metrics are left out", () => {
    const published = new Map<string, SpValue>();
    const m = (p: number, s: string): SpMetric[] => [
      { name: "P", type: "Double", value: p, deadband: 500 },
      { name: "S", type: "String", value: s },
    ];
    remember(published, m(1000, "a"));
    assert.deepEqual(changedMetrics(published, m(1000, "a")), []);
    let changed = changedMetrics(published, m(1300, "a"));
    assert.deepEqual(changed, []);
    changed = changedMetrics(published, m(1600, "a"));
    assert.deepEqual(
      changed.map((x) => x.name),
      ["P"],
    );
    remember(published, changed);
    assert.equal(published.get("P"), 1600);
    assert.deepEqual(
      changedMetrics(published, m(1600, "b")).map((x) => x.name),
      ["S"],
    );
  });
});

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
