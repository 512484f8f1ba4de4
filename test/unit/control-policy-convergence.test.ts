// The planner converges on a toy site model under a constant load (fast-check, fixed seeds).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { plan } from "../../agent/control/policy.ts";
import type {
  DeviceLedger,
  PlanGpuNode,
  PlanMiner,
  PlanSnapshot,
  PolicyConfig,
  RestoreRecord,
} from "../../agent/control/types.ts";
import { BASE, NOW, RESTORING, STRATEGIES } from "./control-policy-arb-fixtures.ts";

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
