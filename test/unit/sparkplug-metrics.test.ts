// The Sparkplug B edge node's topics, seq wrapping, the metrics of the node and its
// devices (types, aliases unique per node), and report by exception.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { changedMetrics, isChange, remember } from "../../agent/exports/sparkplug/exception.ts";
import {
  Aliases,
  deviceMetrics,
  nodeMetrics,
  type SpMetric,
  type SpValue,
} from "../../agent/exports/sparkplug/metrics.ts";
import { nextSeq, SparkplugTopics } from "../../agent/exports/sparkplug/topics.ts";
import { devices, site } from "./sparkplug-fixtures.ts";

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
