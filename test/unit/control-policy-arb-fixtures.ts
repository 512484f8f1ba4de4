import fc from "fast-check";
import { plan } from "../../agent/control/policy.ts";
import type {
  DeviceLedger,
  LedgerView,
  PlanGpuNode,
  PlanMiner,
  PlanSnapshot,
  PolicyConfig,
} from "../../agent/control/types.ts";
import type { MinerCapability, MinerState } from "../../drivers/types.ts";
import { policyConfig } from "../helpers/plan.ts";

export const NOW = 2_000_000_000;
export const RUNS = { numRuns: 300, seed: 20240715 };
export const BASE: PolicyConfig = policyConfig({
  track: { toleranceW: 3_000, dwellS: 20, deadbandW: 100 },
});
export const STRATEGIES = ["sleep", "power-limit-then-sleep", "track"] as const;

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

export const ago = (maxMs: number) => fc.integer({ min: 0, max: maxMs }).map((d) => NOW - d);
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

export interface Case {
  snapshot: PlanSnapshot;
  budgetW: number;
  config: PolicyConfig;
  ledger: LedgerView;
}

export const anyCaseArb: fc.Arbitrary<Case> = fc
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

export const caseArb: fc.Arbitrary<Case> = fc.oneof(anyCaseArb, restoreCaseArb);

export function siteP(c: Case): number {
  if (c.snapshot.powerW !== null) return c.snapshot.powerW;
  let p = 0;
  for (const m of c.snapshot.miners) p += m.powerW ?? 0;
  for (const n of c.snapshot.gpuNodes) for (const g of n.gpus) p += g.powerW ?? 0;
  return p;
}
export const run = (c: Case) => plan(c.snapshot, { budgetW: c.budgetW }, c.config, c.ledger, NOW);
export const RESTORING = new Set(["wake", "restorePowerLimit", "uncapGpu"]);
