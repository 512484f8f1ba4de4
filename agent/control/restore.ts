// The restoring half of the planner: AI caps first, then miner limits (track:
// targets raised), then wakes, within the headroom, the ramp and its slope; and
// the resume of a drained GPU node. Pure, like the whole planner.
import {
  appliedLimitW,
  byId,
  type Ctx,
  can,
  DEFAULT_TRACK,
  efficiencyJPerTh,
  isFailed,
  minerFloorW,
  movedAgainst,
  NO_LEDGER,
  RAMP_WINDOW_MS,
  RUNNING,
  withinRangeW,
} from "./plan-context.ts";
import type { PlanAction, PlanMiner, PlanSnapshot, PolicyConfig } from "./types.ts";

/**
 * What one restore batch may add: `rampUpWPerMin × restoreStaggerS / 60` (unbounded without a
 * stagger, where the minute's ramp is the only limit).
 */
export function restoreBatchW(config: Pick<PolicyConfig, "rampUpWPerMin" | "restoreStaggerS">): number {
  return config.restoreStaggerS > 0
    ? (config.rampUpWPerMin * config.restoreStaggerS) / 60
    : Number.POSITIVE_INFINITY;
}

interface WakeCandidate {
  m: PlanMiner;
  expectedW: number;
  eff: number;
  /** A limit restore: the limit to set (the original, within the model's range). */
  toW?: number;
}

/**
 * Adds up to addW: AI caps first, then miner limits (track: targets raised), then wakes (track:
 * only once no target the agent lowered is left below its maximum). Mining that fills an AI fall
 * (snapshot.aiFall) keeps the site flat: the fall is credited to the ramp, and what restores
 * since the fall have not filled yet passes the stagger and the slope.
 */
export function restore(snapshot: PlanSnapshot, addW: number, ctx: Ctx): void {
  const { config, ledger, now } = ctx;
  const track = config.strategy === "track";
  const fall = snapshot.aiFall ?? null;
  let lastAt = Number.NEGATIVE_INFINITY;
  let rampUsed = 0;
  let filledW = 0;
  for (const r of ledger.restores) {
    if (r.at > lastAt) lastAt = r.at;
    if (r.at > now - RAMP_WINDOW_MS && r.at <= now) rampUsed += r.expectedW;
    if (fall && r.at >= fall.since && r.at <= now) filledW += r.expectedW;
  }
  const fillLeft = fall ? Math.max(0, fall.fallW - filledW) : 0;
  // the last batch is too recent (an AI fall not filled yet is filled all the same)
  if (fillLeft === 0 && now - lastAt < config.restoreStaggerS * 1000) {
    ctx.alarms.push({
      code: "ramp-limited",
      message: "restores held by the ramp (the next batch in restoreStaggerS)",
    });
    return;
  }
  const rampLeft = config.rampUpWPerMin - rampUsed + (fall?.fallW ?? 0);
  let allowance = Math.min(addW, rampLeft);
  if (allowance <= 0) return;
  // the ramp as a slope: one batch adds at most a stagger's share of a minute's ramp, so the
  // site rises step by step rather than a minute's worth at once (a batch may always take one
  // miner, or a miner bigger than the share would never come back)
  let batchLeft = restoreBatchW(config) + fillLeft;
  let batchActions = 0;
  const fitsBatch = (w: number) => w <= batchLeft || batchActions === 0;
  const push = (a: PlanAction) => {
    allowance -= a.expectedDeltaW;
    batchLeft -= a.expectedDeltaW;
    batchActions++;
    ctx.actions.push(a);
  };
  const rampHeld = () => Math.min(rampLeft, restoreBatchW(config)) < addW;
  let leftOut = false;

  // 1. AI caps the agent set, highest priority node first
  const nodes = snapshot.gpuNodes
    .filter((n) => {
      if (n.excluded) return false;
      const l = ledger.devices.get(n.id);
      return l?.gpuCaps != null && l.gpuCaps.size > 0 && !isFailed(l, now) && !l.pendingWake;
    })
    .sort((a, b) => (b.priority ?? 0) - (a.priority ?? 0) || byId(a.id, b.id));
  for (const n of nodes) {
    const caps = ledger.devices.get(n.id)!.gpuCaps!;
    const gpus = [...n.gpus].sort((a, b) => a.index - b.index);
    for (const g of gpus) {
      const cap = caps.get(g.index);
      if (!cap || g.powerLimitW === null) continue;
      const delta = Math.max(0, cap.originalW - g.powerLimitW);
      const room = Math.min(allowance, Math.max(0, batchLeft));
      if (delta > room) {
        // a partial step: raise the limit by what the allowance and the batch let through
        const step = Math.floor(room);
        if (step > 0) {
          push({
            deviceId: n.id,
            kind: "uncapGpu",
            gpuIndex: g.index,
            valueW: g.powerLimitW + step,
            expectedDeltaW: step,
            reason: "under budget: restore AI (partial)",
          });
        }
        leftOut = true;
        break;
      }
      push({
        deviceId: n.id,
        kind: "uncapGpu",
        gpuIndex: g.index,
        valueW: cap.originalW,
        expectedDeltaW: delta,
        reason: "under budget: restore AI",
      });
    }
    if (allowance <= 0 || batchLeft <= 0) break;
  }
  if (allowance <= 0 || leftOut || batchLeft <= 0) {
    // AI first: mining waits until AI is whole
    if (rampHeld()) ctx.alarms.push({ code: "ramp-limited", message: "restores held by the ramp" });
    return;
  }

  // 2. miner power limits the agent lowered, then 3. miners the agent slept; best J/TH first
  const limits: WakeCandidate[] = [];
  const raises: RaiseCandidate[] = [];
  const wakes: WakeCandidate[] = [];
  let targetsBelowMax = false;
  const minOffMs = config.minOffS * 1000;
  const minOnMs = config.minOnS * 1000;
  const t = config.track ?? DEFAULT_TRACK;
  for (const m of snapshot.miners) {
    if (m.excluded) continue;
    const l = ledger.devices.get(m.id) ?? NO_LEDGER;
    if (isFailed(l, now) || l.pendingWake) continue;
    if (l.powerLimit && RUNNING.has(m.state) && can(m, "setPowerLimit") && m.powerW !== null) {
      const eff = efficiencyJPerTh(m.powerW, m.hashrateThs) ?? Number.POSITIVE_INFINITY;
      if (!track) {
        const toW = withinRangeW(m, l, l.powerLimit.originalW);
        // an original outside the model's range goes back only as far as the range: once there, done
        if (toW !== l.powerLimit.originalW && m.powerLimitW != null && Math.abs(m.powerLimitW - toW) <= 1)
          continue;
        limits.push({ m, expectedW: Math.max(0, toW - m.powerW), eff, toW });
        continue;
      }
      // the original, within the model's range (an original under the floor goes to the floor)
      const maxW = Math.max(
        minerFloorW(m, l),
        Math.min(l.powerLimit.originalW, m.maxPowerLimitW ?? Number.POSITIVE_INFINITY),
      );
      const fromW = m.powerLimitW ?? m.powerW;
      if (fromW >= maxW - 1) continue; // at its maximum already
      targetsBelowMax = true;
      // a target moves once per dwellS, and never the other way within minOnS
      if (l.pendingShed || (l.movedAt != null && now - l.movedAt < t.dwellS * 1000)) continue;
      if (movedAgainst(l, 1, { now, minOnMs })) continue;
      raises.push({ m, originalW: l.powerLimit.originalW, maxW, fromW, eff });
    } else if (
      l.sleptAt != null &&
      m.state === "sleeping" &&
      can(m, "wake") &&
      now - l.sleptAt >= minOffMs &&
      l.sleptPowerW != null &&
      l.sleptPowerW > 0
    ) {
      wakes.push({ m, expectedW: l.sleptPowerW, eff: l.efficiencyJPerTh ?? Number.POSITIVE_INFINITY });
    }
  }
  const best = (a: { m: PlanMiner; eff: number }, b: { m: PlanMiner; eff: number }) =>
    a.eff - b.eff || byId(a.m.id, b.m.id);
  // NaN-safe: Infinity − Infinity is NaN, which || passes over to the id
  limits.sort(best);
  raises.sort(best);
  // equally efficient: the faster wake first (its model's wake-up time), so the need fills sooner
  const wakeS = (c: WakeCandidate) => c.m.wakeUpS ?? Number.POSITIVE_INFINITY;
  wakes.sort((a, b) => a.eff - b.eff || wakeS(a) - wakeS(b) || byId(a.m.id, b.m.id));
  for (const c of limits) {
    if (c.expectedW > allowance || !fitsBatch(c.expectedW)) {
      leftOut = true;
      continue;
    }
    push({
      deviceId: c.m.id,
      kind: "restorePowerLimit",
      valueW: c.toW ?? ledger.devices.get(c.m.id)!.powerLimit!.originalW,
      expectedDeltaW: c.expectedW,
      reason: "under budget: restore power limit",
    });
  }
  for (const c of raises) {
    let step = Math.min(c.maxW - c.fromW, allowance);
    if (batchActions > 0) step = Math.min(step, batchLeft);
    // clipped by the allowance or the batch: the rest waits for the ramp
    if (step < c.maxW - c.fromW) leftOut = true;
    const toMax = c.fromW + step >= c.maxW - 1;
    // what the firmware applies for the target (a LuxOS profile at or below it): a raise that
    // would land on the step the miner is at already moves nothing, so it is not sent
    const valueW = toMax ? c.maxW : (appliedLimitW(c.m, Math.floor(c.fromW + step)) ?? c.fromW);
    const movedW = valueW - c.fromW;
    // a small move is not worth a command, unless it is the last one up to the maximum
    if (movedW < 1 || (!toMax && movedW < t.deadbandW)) {
      leftOut = true;
      continue;
    }
    push({
      deviceId: c.m.id,
      kind: "restorePowerLimit",
      valueW,
      expectedDeltaW: Math.max(1, Math.min(movedW, valueW - (c.m.powerW ?? c.fromW))),
      reason: toMax ? "under the track band: target back to full" : "under the track band: raise target",
    });
    if (allowance <= 0) break;
  }
  // track: whole miners wake only once every target the agent lowered is back at its maximum
  if (!targetsBelowMax) {
    for (const c of wakes) {
      if (c.expectedW > allowance || !fitsBatch(c.expectedW)) {
        leftOut = true;
        continue;
      }
      push({
        deviceId: c.m.id,
        kind: "wake",
        expectedDeltaW: c.expectedW,
        reason: track ? "under the track band: wake" : "under budget: wake",
      });
    }
  }
  if (leftOut && rampHeld()) {
    ctx.alarms.push({ code: "ramp-limited", message: "restores held by the ramp" });
  }
}

interface RaiseCandidate {
  m: PlanMiner;
  /** Its limit before the agent lowered it. */
  originalW: number;
  /** The highest target it may get: the original, within its model's range. */
  maxW: number;
  fromW: number;
  eff: number;
}

/** A drained GPU node whose every cap is lifted: its resume command. */
export function resumeDrained(snapshot: PlanSnapshot, ctx: Ctx): void {
  for (const n of snapshot.gpuNodes) {
    if (n.flex !== "drain" || n.excluded) continue;
    const l = ctx.ledger.devices.get(n.id);
    if (l?.drainedAt == null || (l.gpuCaps?.size ?? 0) > 0) continue;
    if (l.pendingShed || l.pendingWake || isFailed(l, ctx.now)) continue;
    ctx.actions.push({
      deviceId: n.id,
      kind: "resumeGpuNode",
      expectedDeltaW: 0,
      reason: "every cap lifted: resume (flex: drain)",
    });
  }
}
