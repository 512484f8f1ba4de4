// Properties of the planner in track mode and over the AI tiers (fast-check, fixed seeds).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { FLEX_ORDER, minerFloorW } from "../../agent/control/policy.ts";
import { anyCaseArb, caseArb, NOW, RUNS, run, siteP } from "./control-policy-arb-fixtures.ts";

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
