// The problems list (GET /api/problems): what needs fixing, worst first, each
// with a next step; built from the views the page reads.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { DevicesView, SiteView } from "../../agent/http/types.ts";
import { HOT_CHIP_C, listProblems } from "../../agent/site/problems.ts";

const T = Date.parse("2026-12-04T12:00:00Z");

function miner(id: string, o: Record<string, unknown> = {}) {
  return {
    id,
    class: "mining",
    host: "10.1.0.1",
    port: 4028,
    dialect: "antminer",
    configuredDialect: "auto",
    capabilities: ["sleep", "wake"],
    withdrawn: [] as Array<{ capability: string; reason: string }>,
    location: "container-A",
    priority: 0,
    excluded: false,
    state: "hashing",
    reason: null,
    chipTempMaxC: 70,
    at: null,
    ageS: 1,
    ...o,
  };
}

const site = {
  signals: [
    {
      name: "qse",
      kind: "modbus",
      state: "stale",
      since: "2026-12-04T11:58:00.000Z",
      reason: "no heartbeat for 30 s",
    },
    { name: "vtn", kind: "openadr", state: "active", since: "2026-12-04T11:00:00.000Z", reason: null },
  ],
} as unknown as SiteView;

const devices = {
  miners: [
    miner("m-ok"),
    miner("m-down", { state: "unreachable", reason: "WK_CGMINER_TIMEOUT: no answer in 3000 ms" }),
    miner("m-hot", { chipTempMaxC: HOT_CHIP_C + 3 }),
    miner("m-ro", {
      capabilities: [],
      withdrawn: [{ capability: "sleep", reason: "no web credentials" }],
    }),
    miner("m-away", { state: "unreachable", excluded: true }),
  ],
  meters: [
    { id: "pcc", role: "site", ok: false, ageS: 42, reason: "WK_MODBUS_TIMEOUT" },
    { id: "feeder", role: "mining", ok: true, ageS: 1 },
  ],
  gpuNodes: [
    {
      id: "gpu-1",
      class: "ai",
      host: "10.2.0.1",
      port: 22,
      location: "hall",
      excluded: false,
      state: "faulted",
      reason: "GPU 3 is lost",
      powerW: 5000,
      at: null,
      gpus: [],
    },
  ],
} as unknown as DevicesView;

test("worst first: critical (site meter, signal, GPU node) before warnings; oldest first within", () => {
  const p = listProblems({
    site,
    devices,
    outageSince: (id) => ({ pcc: T - 60_000, "gpu-1": T - 600_000, "m-down": T - 3_600_000 })[id] ?? null,
  });
  assert.deepEqual(
    p.map((x) => `${x.severity} ${x.kind} ${x.id}`),
    [
      "critical gpu-node-faulted gpu-1",
      "critical signal-stale qse",
      "critical meter-stale pcc",
      "warning unreachable m-down",
      "warning hot m-hot",
      "warning cannot-shed m-ro",
    ],
  );
});

test("each says what is wrong and what to do next", () => {
  const p = listProblems({ site, devices, outageSince: () => null });
  const byId = new Map(p.map((x) => [x.id, x]));
  assert.match(byId.get("pcc")!.message, /site meter without a fresh reading for 42 s: WK_MODBUS_TIMEOUT/);
  assert.match(byId.get("pcc")!.fix, /fail-safe budget/);
  assert.match(byId.get("m-down")!.fix, /10\.1\.0\.1:4028/);
  assert.equal(byId.get("m-down")!.location, "container-A");
  assert.match(byId.get("m-ro")!.message, /sleep withdrawn \(no web credentials\)/);
  assert.match(byId.get("m-ro")!.fix, /credentials/);
  assert.match(byId.get("m-hot")!.message, /93 °C/);
  assert.ok(!byId.has("m-away"), "an excluded miner is not a problem");
  assert.ok(!byId.has("m-ok") && !byId.has("vtn") && !byId.has("feeder"));
});

test("a stopped fan, a foreign pool or worker, a changed firmware: each a problem with its next step", () => {
  const p = listProblems({
    site: { signals: [] } as unknown as SiteView,
    devices: {
      miners: [
        miner("m-fan", { fanRpm: [5400, 0, 5380, 5410] }),
        // all fans at 0 while hashing is immersion or hydro cooling, not a failure
        miner("m-immersed", { fanRpm: [0, 0] }),
        miner("m-pool", {
          poolPolicy: { allow: ["stratum+tcp://pool.example.net:3333"], workerPattern: "^odessa1\\." },
          pools: [
            { url: "stratum+tcp://POOL.example.net:3333/", user: "odessa1.m7", status: "Alive" },
            { url: "stratum+tcp://evil.example.org:443", user: "thief.x", status: "Alive" },
          ],
        }),
        miner("m-pool-ok", {
          poolPolicy: { allow: ["stratum+tcp://pool.example.net:3333"] },
          pools: [{ url: "stratum+tcp://pool.example.net:3333", user: "anyone", status: "Alive" }],
        }),
        miner("m-fw", {
          firmwareChange: { from: "LUXminer 2024.6", to: "LUXminer 2025.1\u001b[31m", at: T - 60_000 },
        }),
        // a reply the dialect does not know: its API changed, not a broken miner
        miner("m-api", {
          state: "faulted",
          reason:
            "WK_FIRMWARE_CHANGED: vnish 1.2.7: /api/v1/summary miner.power_usage: expected number, got string",
        }),
      ],
      meters: [],
      gpuNodes: [],
    } as unknown as DevicesView,
    outageSince: () => null,
  });
  const by = (kind: string) => p.filter((x) => x.kind === kind);
  assert.deepEqual(
    by("fan-failed").map((x) => [x.id, x.message]),
    [["m-fan", "fan 2 stopped (5400/0/5380/5410 rpm)"]],
  );
  assert.deepEqual(
    by("wrong-pool").map((x) => x.id),
    ["m-pool"],
  );
  assert.match(
    by("wrong-pool")[0]!.message,
    /pool stratum\+tcp:\/\/evil\.example\.org:443 is not allowed; worker thief\.x does not match/,
  );
  const fw = by("firmware-changed").find((x) => x.id === "m-fw")!;
  assert.equal(fw.since, new Date(T - 60_000).toISOString());
  const api = by("firmware-changed").find((x) => x.id === "m-api")!;
  assert.match(api.message, /vnish 1\.2\.7: .*expected number, got string/);
  assert.match(api.fix, /selftest/);
  assert.ok(!by("faulted").some((x) => x.id === "m-api"), "not listed as a plain fault too");
  assert.ok(!fw.message.includes("\u001b"), "device strings are made printable");
  assert.ok(p.every((x) => x.fix.length > 0));
});

test("cannot-shed says why by dialect: stock Antminer without web credentials, stock cgminer read-only", () => {
  const p = listProblems({
    site: { signals: [] } as unknown as SiteView,
    devices: {
      miners: [
        miner("m-stock", { capabilities: [] }),
        miner("m-cg", { dialect: "cgminer", capabilities: [] }),
      ],
      meters: [],
      gpuNodes: [],
    } as unknown as DevicesView,
    outageSince: () => null,
  });
  const byId = new Map(p.map((x) => [x.id, x]));
  assert.match(
    byId.get("m-stock")!.message,
    /sleeps through its web interface, and no web credentials are set/,
  );
  assert.match(byId.get("m-stock")!.fix, /credentials/);
  assert.match(byId.get("m-cg")!.message, /stock cgminer's API is read-only/);
  assert.match(byId.get("m-cg")!.fix, /set the miner's dialect/);
});
