// Properties of the planner over arbitrary fleets, ledgers and readings (fast-check, fixed seeds).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { RAMP_WINDOW_MS, restoreBatchW } from "../../agent/control/policy.ts";
import { type Case, caseArb, NOW, RESTORING, RUNS, run, siteP } from "./control-policy-arb-fixtures.ts";

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
