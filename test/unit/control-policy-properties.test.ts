// Properties of the planner over arbitrary fleets, ledgers and readings
// (fast-check, fixed seeds), and convergence on a toy site model.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { FLEX_ORDER, minerFloorW, plan, RAMP_WINDOW_MS, restoreBatchW } from "../../agent/control/policy.ts";
import type {
  DeviceLedger,
  LedgerView,
  PlanGpuNode,
  PlanMiner,
  PlanSnapshot,
  PolicyConfig,
  RestoreRecord,
} from "../../agent/control/types.ts";
import type { MinerCapability, MinerState } from "../../drivers/types.ts";

const NOW = 2_000_000_000;
const RUNS = { numRuns: 300, seed: 20240715 };
const BASE: PolicyConfig = {
  shedMarginW: 5_000,
  restoreMarginW: 15_000,
  emergencyMarginW: 50_000,
  minOnS: 300,
  minOffS: 120,
  rampUpWPerMin: 20_000,
  restoreStaggerS: 10,
  strategy: "sleep",
  track: { toleranceW: 3_000, dwellS: 20, deadbandW: 100 },
};
const STRATEGIES = ["sleep", "power-limit-then-sleep", "track"] as const;

const STATES: MinerState[] = ["hashing", "sleeping", "starting", "faulted", "unreachable"];
const CAPS: MinerCapability[] = ["sleep", "wake", "setPowerLimit", "reboot"];

const minerArb = (id: string): fc.Arbitrary<PlanMiner> =>
  fc.record({
    id: fc.constant(id),
    priority: fc.integer({ min: 0, max: 3 }),
    state: fc.constantFrom(...STATES),
    powerW: fc.option(fc.integer({ min: 0, max: 5000 }), { freq: 8 }),
    hashrateThs: fc.option(fc.integer({ min: 0, max: 250 }), { freq: 8 }),
    capabilities: fc.subarray(CAPS),
    excluded: fc.boolean(),
    powerLimitW: fc.option(fc.integer({ min: 1000, max: 5000 })),
    minPowerLimitW: fc.option(fc.integer({ min: 500, max: 3000 })),
    maxPowerLimitW: fc.option(fc.integer({ min: 3000, max: 6000 })),
  });

const nodeArb = (id: string): fc.Arbitrary<PlanGpuNode> =>
  fc.record({
    id: fc.constant(id),
    floorW: fc.integer({ min: 150, max: 400 }),
    priority: fc.integer({ min: 0, max: 2 }),
    excluded: fc.boolean(),
    flex: fc.constantFrom("firm" as const, "cap" as const, "drain" as const),
    gpus: fc
      .array(
        fc.record({
          powerW: fc.option(fc.integer({ min: 50, max: 700 }), { freq: 8 }),
          powerLimitW: fc.option(fc.integer({ min: 150, max: 700 }), { freq: 8 }),
          minLimitW: fc.option(fc.integer({ min: 100, max: 300 })),
          maxLimitW: fc.constant(700),
          defaultLimitW: fc.constant(700),
        }),
        { minLength: 1, maxLength: 4 },
      )
      .map((gs) => gs.map((g, index) => ({ index, ...g }))),
  });

const ago = (maxMs: number) => fc.integer({ min: 0, max: maxMs }).map((d) => NOW - d);
const pendingArb = fc.option(
  fc.record({ expectedW: fc.integer({ min: 0, max: 5000 }), issuedAt: ago(20_000) }),
  {
    freq: 4,
  },
);
const ledgerEntryArb: fc.Arbitrary<DeviceLedger> = fc.record(
  {
    sleptAt: fc.option(ago(600_000)),
    sleptPowerW: fc.option(fc.integer({ min: 0, max: 5000 })),
    efficiencyJPerTh: fc.option(fc.double({ min: 10, max: 120, noNaN: true })),
    wokeAt: fc.option(ago(900_000)),
    pendingWake: pendingArb,
    pendingShed: pendingArb,
    failedUntil: fc.option(fc.integer({ min: NOW - 60_000, max: NOW + 60_000 }), { freq: 4 }),
    powerLimit: fc.option(fc.record({ originalW: fc.integer({ min: 1000, max: 5000 }), at: ago(900_000) })),
    movedAt: fc.option(ago(400_000)),
    movedDir: fc.option(fc.constantFrom(1 as const, -1 as const)),
    drainedAt: fc.option(ago(400_000), { freq: 3 }),
    gpuCaps: fc.option(
      fc
        .array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 300, max: 700 })), { maxLength: 4 })
        .map((xs) => new Map(xs.map(([i, w]) => [i, { originalW: w, at: NOW - 1 }]))),
    ),
  },
  { requiredKeys: [] },
);

interface Case {
  snapshot: PlanSnapshot;
  budgetW: number;
  config: PolicyConfig;
  ledger: LedgerView;
}

const anyCaseArb: fc.Arbitrary<Case> = fc
  .record({
    nMiners: fc.integer({ min: 0, max: 25 }),
    nNodes: fc.integer({ min: 0, max: 4 }),
  })
  .chain(({ nMiners, nNodes }) => {
    const minerIds = Array.from({ length: nMiners }, (_, i) => `m${String(i).padStart(2, "0")}`);
    const nodeIds = Array.from({ length: nNodes }, (_, i) => `g${i}`);
    const ids = [...minerIds, ...nodeIds];
    return fc.record({
      miners: fc.tuple(...minerIds.map(minerArb)),
      nodes: fc.tuple(...nodeIds.map(nodeArb)),
      entries: fc.array(fc.tuple(fc.constantFrom(...(ids.length ? ids : ["none"])), ledgerEntryArb), {
        maxLength: 20,
      }),
      restores: fc.array(
        fc.record({
          deviceId: fc.constant("r"),
          expectedW: fc.integer({ min: 0, max: 15_000 }),
          at: ago(120_000),
        }),
        { maxLength: 4 },
      ),
      powerW: fc.option(fc.integer({ min: 0, max: 200_000 }), { freq: 8 }),
      budgetW: fc.integer({ min: 20_000, max: 200_000 }),
      strategy: fc.constantFrom(...STRATEGIES),
      rampUpWPerMin: fc.integer({ min: 1_000, max: 40_000 }),
    });
  })
  .map((r) => ({
    snapshot: {
      powerW: r.powerW,
      powerSource: r.powerW === null ? null : "meter",
      miners: [...r.miners],
      gpuNodes: [...r.nodes],
    },
    budgetW: r.budgetW,
    config: { ...BASE, strategy: r.strategy, rampUpWPerMin: r.rampUpWPerMin },
    ledger: { devices: new Map(r.entries), restores: r.restores },
  }));

// Restores need many conditions at once (agent-slept miners past minOffS,
// P under the restore line, the stagger passed): a fleet biased towards them.
const restoreCaseArb: fc.Arbitrary<Case> = fc
  .record({
    slept: fc.array(
      fc.record({
        sleptPowerW: fc.integer({ min: 500, max: 5000 }),
        efficiencyJPerTh: fc.double({ min: 10, max: 120, noNaN: true }),
        sleptAt: ago(400_000),
        pendingWake: pendingArb,
        failed: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
        excluded: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
        limited: fc.option(fc.integer({ min: 100, max: 1500 }), { freq: 1 }),
      }),
      { minLength: 1, maxLength: 25 },
    ),
    capped: fc.array(fc.tuple(fc.integer({ min: 300, max: 500 }), fc.integer({ min: 500, max: 700 })), {
      maxLength: 4,
    }),
    restores: fc.array(
      fc.record({
        deviceId: fc.constant("r"),
        expectedW: fc.integer({ min: 0, max: 15_000 }),
        at: ago(90_000),
      }),
      { maxLength: 3 },
    ),
    powerW: fc.integer({ min: 0, max: 80_000 }),
    budgetW: fc.integer({ min: 60_000, max: 120_000 }),
    rampUpWPerMin: fc.integer({ min: 1_000, max: 40_000 }),
  })
  .map((r) => {
    const devices = new Map<string, DeviceLedger>();
    const miners: PlanMiner[] = r.slept.map((x, i) => {
      const id = `s${String(i).padStart(2, "0")}`;
      devices.set(id, {
        sleptAt: x.limited === null ? x.sleptAt : null,
        sleptPowerW: x.sleptPowerW,
        efficiencyJPerTh: x.efficiencyJPerTh,
        pendingWake: x.pendingWake,
        failedUntil: x.failed ? NOW + 1000 : null,
        powerLimit: x.limited === null ? null : { originalW: x.sleptPowerW + x.limited, at: NOW - 1 },
      });
      return {
        id,
        priority: 0,
        state: x.limited === null ? "sleeping" : "hashing",
        powerW: x.limited === null ? 0 : x.sleptPowerW,
        hashrateThs: x.limited === null ? 0 : 100,
        capabilities: ["sleep", "wake", "setPowerLimit"],
        excluded: x.excluded,
      };
    });
    const gpuNodes: PlanGpuNode[] = r.capped.length
      ? [
          {
            id: "g0",
            floorW: 300,
            gpus: r.capped.map(([limit], index) => ({
              index,
              powerW: limit,
              powerLimitW: limit,
              minLimitW: 200,
              maxLimitW: 700,
              defaultLimitW: 700,
            })),
          },
        ]
      : [];
    if (r.capped.length) {
      devices.set("g0", {
        gpuCaps: new Map(r.capped.map(([, orig], i) => [i, { originalW: orig, at: NOW - 1 }])),
      });
    }
    return {
      snapshot: { powerW: r.powerW, powerSource: "meter" as const, miners, gpuNodes },
      budgetW: r.budgetW,
      config: { ...BASE, rampUpWPerMin: r.rampUpWPerMin },
      ledger: { devices, restores: r.restores },
    };
  });

const caseArb: fc.Arbitrary<Case> = fc.oneof(anyCaseArb, restoreCaseArb);

function siteP(c: Case): number {
  if (c.snapshot.powerW !== null) return c.snapshot.powerW;
  let p = 0;
  for (const m of c.snapshot.miners) p += m.powerW ?? 0;
  for (const n of c.snapshot.gpuNodes) for (const g of n.gpus) p += g.powerW ?? 0;
  return p;
}
const run = (c: Case) => plan(c.snapshot, { budgetW: c.budgetW }, c.config, c.ledger, NOW);
const RESTORING = new Set(["wake", "restorePowerLimit", "uncapGpu"]);

describe("policy properties", () => {
  test("never restores more than headroom and the ramp allow; stagger respected", () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const p = run(c);
        const restored = p.actions.filter((a) => RESTORING.has(a.kind));
        assert.ok(
          !p.actions.some((a) => a.kind === "drainGpuNode") || p.mode === "shed",
          "drains only when shedding",
        );
        const total = restored.reduce((s, a) => s + a.expectedDeltaW, 0);
        if (restored.length === 0) return;
        let pendingWake = 0;
        for (const l of c.ledger.devices.values()) pendingWake += l.pendingWake?.expectedW ?? 0;
        const headroom = c.budgetW - c.config.shedMarginW - siteP(c) - pendingWake;
        const recent = c.ledger.restores
          .filter((r) => r.at > NOW - RAMP_WINDOW_MS)
          .reduce((s, r) => s + r.expectedW, 0);
        assert.ok(total <= headroom + 1e-9, `restored ${total} > headroom ${headroom}`);
        assert.ok(recent + total <= c.config.rampUpWPerMin + 1e-9, "ramp exceeded");
        // the slope: a batch adds at most a stagger's share of the minute's ramp, or one device
        if (restored.length > 1) {
          assert.ok(
            total <= restoreBatchW(c.config) + 1e-9,
            `batch ${total} > slope ${restoreBatchW(c.config)}`,
          );
        }
        assert.equal(p.headroomW, headroom);
        const last = Math.max(...c.ledger.restores.map((r) => r.at));
        assert.ok(NOW - last >= c.config.restoreStaggerS * 1000, "stagger");
        assert.ok(c.snapshot.powerW !== null, "no restores on an unknown P");
        assert.ok(
          !p.actions.some((a) => !RESTORING.has(a.kind) && a.kind !== "resumeGpuNode"),
          "no shed and restore in one plan",
        );
      }),
      RUNS,
    );
  });

  test("never touches excluded devices", () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const excluded = new Set([
          ...c.snapshot.miners.filter((m) => m.excluded).map((m) => m.id),
          ...c.snapshot.gpuNodes.filter((n) => n.excluded).map((n) => n.id),
        ]);
        for (const a of run(c).actions) assert.ok(!excluded.has(a.deviceId), `touched ${a.deviceId}`);
      }),
      RUNS,
    );
  });

  test("never caps AI while a flexible miner is still hashing; never sleeps AI", () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const p = run(c);
        const nodeIds = new Set(c.snapshot.gpuNodes.map((n) => n.id));
        for (const a of p.actions) {
          if (nodeIds.has(a.deviceId)) assert.ok(a.kind.endsWith("Gpu") || a.kind.endsWith("GpuNode"));
        }
        // flexible AI (cap, drain) may be capped while miners are only held; firm AI may not
        const firmCapped = p.actions.some(
          (a) =>
            a.kind === "capGpu" &&
            (c.snapshot.gpuNodes.find((n) => n.id === a.deviceId)?.flex ?? "firm") === "firm",
        );
        if (!firmCapped) return;
        const slept = new Set(p.actions.filter((a) => a.kind === "sleep").map((a) => a.deviceId));
        for (const m of c.snapshot.miners) {
          const l = c.ledger.devices.get(m.id);
          const flexible =
            !m.excluded &&
            (m.state === "hashing" || m.state === "starting") &&
            (m.powerW ?? 0) > 0 &&
            m.capabilities.includes("sleep") &&
            !(l?.failedUntil != null && l.failedUntil > NOW) &&
            !l?.pendingShed;
          assert.ok(!flexible || slept.has(m.id), `AI capped while ${m.id} hashes`);
        }
        for (const a of p.actions.filter((x) => x.kind === "capGpu")) {
          const n = c.snapshot.gpuNodes.find((x) => x.id === a.deviceId)!;
          const g = n.gpus.find((x) => x.index === a.gpuIndex)!;
          assert.ok(a.valueW! >= n.floorW && a.valueW! >= (g.minLimitW ?? 0), "below the floor");
        }
      }),
      RUNS,
    );
  });

  test("never toggles a miner inside minOnS/minOffS except in emergency; wakes only what the agent slept", () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const p = run(c);
        const emergency = siteP(c) > c.budgetW + c.config.emergencyMarginW;
        const miners = new Map(c.snapshot.miners.map((m) => [m.id, m]));
        for (const a of p.actions) {
          const l = c.ledger.devices.get(a.deviceId);
          if (a.kind === "sleep") {
            const ok = l?.wokeAt == null || NOW - l.wokeAt >= c.config.minOnS * 1000 || emergency;
            assert.ok(ok, `slept ${a.deviceId} inside minOnS`);
          }
          if (a.kind === "wake") {
            assert.ok(l?.sleptAt != null, `woke ${a.deviceId}, which the agent did not sleep`);
            assert.ok(NOW - l.sleptAt >= c.config.minOffS * 1000, `woke ${a.deviceId} inside minOffS`);
            assert.equal(miners.get(a.deviceId)?.state, "sleeping");
          }
        }
      }),
      RUNS,
    );
  });

  test("deterministic: the same inputs in another order give the same plan", () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const shuffled: Case = {
          ...c,
          snapshot: {
            ...c.snapshot,
            miners: [...c.snapshot.miners].reverse(),
            gpuNodes: [...c.snapshot.gpuNodes].reverse(),
          },
        };
        assert.deepEqual(run(c), run(shuffled));
      }),
      RUNS,
    );
  });
});

// ---------------------------------------------------------------- convergence

interface ToyMiner {
  m: PlanMiner;
  demandW: number;
}
interface ToyGpu {
  demandW: number;
  limitW: number;
}

const toyArb = fc.record({
  miners: fc.array(
    fc.record({
      priority: fc.integer({ min: 0, max: 2 }),
      powerW: fc.integer({ min: 2000, max: 4000 }),
      hashrateThs: fc.integer({ min: 50, max: 250 }),
      limit: fc.boolean(),
      excluded: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
      asleepByOther: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
    }),
    { minLength: 1, maxLength: 30 },
  ),
  gpus: fc.array(fc.array(fc.integer({ min: 350, max: 700 }), { minLength: 1, maxLength: 4 }), {
    maxLength: 3,
  }),
  auxW: fc.integer({ min: 0, max: 60_000 }),
  budgetW: fc.integer({ min: 20_000, max: 160_000 }),
  raiseW: fc.integer({ min: 0, max: 120_000 }),
  strategy: fc.constantFrom(...STRATEGIES),
});

describe("policy convergence on a constant load", () => {
  test("applying each plan to a toy site settles: no device slept and woken repeatedly", () => {
    fc.assert(
      fc.property(toyArb, (t) => {
        const config: PolicyConfig = { ...BASE, strategy: t.strategy };
        const miners: ToyMiner[] = t.miners.map((x, i) => ({
          demandW: x.powerW,
          m: {
            id: `m${String(i).padStart(2, "0")}`,
            priority: x.priority,
            state: x.asleepByOther ? "sleeping" : "hashing",
            powerW: x.asleepByOther ? 0 : x.powerW,
            hashrateThs: x.asleepByOther ? 0 : x.hashrateThs,
            capabilities: x.limit ? ["sleep", "wake", "setPowerLimit"] : ["sleep", "wake"],
            excluded: x.excluded,
          },
        }));
        const gpus: ToyGpu[][] = t.gpus.map((node) => node.map((d) => ({ demandW: d, limitW: 700 })));
        const devices = new Map<string, DeviceLedger>();
        let restores: RestoreRecord[] = [];
        const history = new Map<string, string[]>();
        const TICKS = 500;
        const STEP = 60;
        let lastActionTick = -1;
        for (let tick = 0; tick < TICKS; tick++) {
          const now = NOW + tick * 2000;
          const gpuNodes: PlanGpuNode[] = gpus.map((node, ni) => ({
            id: `g${ni}`,
            floorW: 300,
            gpus: node.map((g, index) => ({
              index,
              powerW: Math.min(g.demandW, g.limitW),
              powerLimitW: g.limitW,
              minLimitW: 200,
              maxLimitW: 700,
              defaultLimitW: 700,
            })),
          }));
          let P = t.auxW;
          for (const x of miners) P += x.m.powerW ?? 0;
          for (const n of gpuNodes) for (const g of n.gpus) P += g.powerW ?? 0;
          const snapshot: PlanSnapshot = {
            powerW: P,
            powerSource: "meter",
            miners: miners.map((x) => x.m),
            gpuNodes,
          };
          // a constant load; the budget steps up once (a lease ends) and then stays
          const budgetW = tick < STEP ? t.budgetW : t.budgetW + t.raiseW;
          const p = plan(snapshot, { budgetW }, config, { devices, restores }, now);
          if (p.actions.length > 0) lastActionTick = tick;
          for (const a of p.actions) {
            const key = a.gpuIndex === undefined ? a.deviceId : `${a.deviceId}#${a.gpuIndex}`;
            const h = history.get(key) ?? [];
            h.push(a.kind);
            history.set(key, h);
            const l = { ...(devices.get(a.deviceId) ?? {}) };
            const x = miners.find((y) => y.m.id === a.deviceId);
            if (RESTORING.has(a.kind))
              restores.push({ deviceId: a.deviceId, expectedW: a.expectedDeltaW, at: now });
            switch (a.kind) {
              case "sleep":
                l.sleptAt = now;
                l.sleptPowerW = x!.m.powerW;
                l.efficiencyJPerTh = x!.m.powerW! / (x!.m.hashrateThs || 1);
                l.wokeAt = null;
                x!.m = { ...x!.m, state: "sleeping", powerW: 0, hashrateThs: 0 };
                break;
              case "wake": {
                const orig = t.miners[miners.indexOf(x!)]!;
                x!.m = { ...x!.m, state: "hashing", powerW: l.sleptPowerW!, hashrateThs: orig.hashrateThs };
                l.sleptAt = null;
                l.wokeAt = now;
                break;
              }
              case "setPowerLimit":
                l.powerLimit ??= { originalW: x!.m.powerW!, at: now };
                x!.m = { ...x!.m, powerW: a.valueW! };
                break;
              case "restorePowerLimit":
                x!.m = { ...x!.m, powerW: a.valueW! };
                // track raises part of the way: the limit stays the agent's until it is whole
                if (l.powerLimit && a.valueW! >= l.powerLimit.originalW - 1) l.powerLimit = null;
                break;
              case "capGpu":
              case "uncapGpu": {
                const g = gpus[Number(a.deviceId.slice(1))]![a.gpuIndex!]!;
                const caps = new Map(l.gpuCaps ?? []);
                if (a.kind === "capGpu" && !caps.has(a.gpuIndex!)) {
                  caps.set(a.gpuIndex!, { originalW: g.limitW, at: now });
                }
                g.limitW = a.valueW!;
                if (a.kind === "uncapGpu" && a.valueW! >= caps.get(a.gpuIndex!)!.originalW)
                  caps.delete(a.gpuIndex!);
                l.gpuCaps = caps;
                break;
              }
            }
            if (a.kind === "sleep" || a.kind === "setPowerLimit")
              Object.assign(l, { movedAt: now, movedDir: -1 });
            if (a.kind === "wake" || a.kind === "restorePowerLimit")
              Object.assign(l, { movedAt: now, movedDir: 1 });
            devices.set(a.deviceId, l);
          }
          restores = restores.filter((r) => r.at > now - 120_000);
        }
        // settled: the last stretch is quiet
        assert.ok(lastActionTick < TICKS - 30, `still acting at tick ${lastActionTick}`);
        // no oscillation: once the agent restored a device it never shed it again
        for (const [id, h] of history) {
          const firstRestore = h.findIndex((k) => RESTORING.has(k));
          if (firstRestore < 0) continue;
          const shedAfter = h.slice(firstRestore).some((k) => !RESTORING.has(k));
          assert.ok(!shedAfter, `${id} toggled: ${h.join(",")}`);
        }
      }),
      { numRuns: 200, seed: 7 },
    );
  });
});

describe("policy properties: track mode and AI tiers", () => {
  const trackCases = anyCaseArb.map((c) => ({ ...c, config: { ...c.config, strategy: "track" as const } }));

  test("track never sets a miner's target outside its range (floor, model maximum, its original)", () => {
    fc.assert(
      fc.property(trackCases, (c) => {
        const miners = new Map(c.snapshot.miners.map((m) => [m.id, m]));
        for (const a of run(c).actions) {
          if (a.kind !== "setPowerLimit" && a.kind !== "restorePowerLimit") continue;
          const m = miners.get(a.deviceId)!;
          const l = c.ledger.devices.get(a.deviceId);
          assert.ok(a.valueW! >= minerFloorW(m, l), `${a.deviceId} set ${a.valueW} under its floor`);
          if (m.maxPowerLimitW != null)
            assert.ok(a.valueW! <= m.maxPowerLimitW, `${a.deviceId} over its max`);
          // never past what it had before the agent lowered it (unless that was under its floor)
          if (a.kind === "restorePowerLimit")
            assert.ok(a.valueW! <= Math.max(l!.powerLimit!.originalW, minerFloorW(m, l)));
        }
      }),
      RUNS,
    );
  });

  test("track never moves a miner against its last move within minOnS (outside an emergency)", () => {
    fc.assert(
      fc.property(trackCases, (c) => {
        const emergency = siteP(c) > c.budgetW + c.config.emergencyMarginW;
        if (emergency) return;
        for (const a of run(c).actions) {
          const l = c.ledger.devices.get(a.deviceId);
          if (l?.movedAt == null || NOW - l.movedAt >= c.config.minOnS * 1000) continue;
          const dir =
            a.kind === "sleep" || a.kind === "setPowerLimit" ? -1 : a.kind === "restorePowerLimit" ? 1 : 0;
          if (dir === 0) continue;
          assert.ok(
            l.movedDir !== -dir,
            `${a.kind} ${a.deviceId} against its move ${NOW - l.movedAt} ms ago`,
          );
        }
      }),
      RUNS,
    );
  });

  test("AI tiers are capped in order (cap, drain, firm) and a drain node is drained before its first cap", () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const p = run(c);
        const tierOf = (id: string) =>
          FLEX_ORDER.indexOf(c.snapshot.gpuNodes.find((n) => n.id === id)?.flex ?? "firm");
        let last = -1;
        const drained = new Set<string>();
        for (const a of p.actions) {
          if (a.kind === "drainGpuNode") drained.add(a.deviceId);
          if (a.kind !== "capGpu") continue;
          const t = tierOf(a.deviceId);
          assert.ok(t >= last, `tier ${FLEX_ORDER[t]} capped after ${FLEX_ORDER[last]}`);
          last = t;
          const n = c.snapshot.gpuNodes.find((x) => x.id === a.deviceId)!;
          if (n.flex === "drain" && c.ledger.devices.get(n.id)?.drainedAt == null) {
            assert.ok(drained.has(n.id), `${n.id} capped before it was drained`);
          }
        }
      }),
      RUNS,
    );
  });
});
