// The shedding half of the planner: power limits then sleeps from mining,
// then GPU caps by flex tier (cap, drain, firm), a drain-tier node drained
// before its first cap. Pure, like the whole planner.
import {
  appliedLimitW,
  byId,
  type Ctx,
  can,
  DEFAULT_TRACK,
  efficiencyJPerTh,
  FLEX_ORDER,
  isFailed,
  minerFloorW,
  RUNNING,
} from "./plan-context.ts";
import type { PlanGpuNode, PlanMiner, PlanSnapshot } from "./types.ts";

interface ShedCandidate {
  m: PlanMiner;
  powerW: number;
  eff: number;
  held: boolean;
  canSleep: boolean;
  canLimit: boolean;
  /** Its lowest power limit (minerFloorW). */
  floorW: number;
  /** Track: its target moved within dwellS (held, under the budget itself). */
  dwelling: boolean;
  /** Woken or raised within minOnS: an emergency takes it only after every other miner. */
  withinMinOn: boolean;
  /** This plan's step for it: a power limit (W removed), or a sleep. */
  limitW: number;
  limitTo: number;
  sleep: boolean;
}

/**
 * Sheds needW: power limits first (strategy power-limit-then-sleep or track), then sleeps, then
 * GPU caps by flex tier. `breach`: P is over the budget itself, so track's dwell does not hold a
 * trim back (a breach always sheds at once).
 */
export interface ShedInput {
  snapshot: PlanSnapshot;
  needW: number;
  emergency: boolean;
  breach: boolean;
  ctx: Ctx;
  /**
   * A cut spread by rampDownWPerMin: past hardW (what the budget forces) it takes at most maxW
   * in all; with `oneFree` (nothing shed in the last minute) a first miner bigger than the share
   * may still go.
   */
  spread?: { hardW: number; maxW: number; oneFree: boolean };
}

export function shed({
  snapshot,
  needW,
  emergency,
  breach,
  ctx,
  spread = {
    hardW: 0,
    maxW: Number.POSITIVE_INFINITY,
    oneFree: true,
  },
}: ShedInput): void {
  const { config, ledger, now } = ctx;
  const minOnMs = config.minOnS * 1000;
  const track = config.strategy === "track";
  const limitFirst = config.strategy === "power-limit-then-sleep" || track;
  const dwellMs = (config.track ?? DEFAULT_TRACK).dwellS * 1000;
  let need = needW;

  const cands: ShedCandidate[] = [];
  for (const m of snapshot.miners) {
    if (m.excluded || !RUNNING.has(m.state) || m.powerW === null || m.powerW <= 0) continue;
    const canSleep = can(m, "sleep");
    const canLimit = limitFirst && can(m, "setPowerLimit");
    if (!canSleep && !canLimit) continue;
    const l = ledger.devices.get(m.id);
    if (isFailed(l, now) || l?.pendingShed) continue;
    // woken, or its target raised, within minOnS: shedding it now would be an opposite move
    const raisedAt = track && l?.movedDir === 1 ? (l.movedAt ?? null) : null;
    const upAt = Math.max(l?.wokeAt ?? Number.NEGATIVE_INFINITY, raisedAt ?? Number.NEGATIVE_INFINITY);
    const withinMinOn = now - upAt < minOnMs;
    const held = !emergency && withinMinOn && (ctx.deadlineAt === null || upAt + minOnMs <= ctx.deadlineAt);
    // track: a target changes at most once per dwellS, unless the budget itself is breached
    const dwelling = track && !breach && !emergency && l?.movedAt != null && now - l.movedAt < dwellMs;
    const eff = efficiencyJPerTh(m.powerW, m.hashrateThs)!;
    cands.push({
      m,
      powerW: m.powerW,
      eff,
      // track, under the budget itself: a miner whose target just moved waits out its dwell
      // rather than being slept (a bigger move than the trim it waits for)
      held: held || dwelling,
      dwelling,
      withinMinOn,
      canSleep,
      canLimit: canLimit && !(track && held) && !dwelling,
      limitW: 0,
      limitTo: 0,
      sleep: false,
      floorW: minerFloorW(m, l),
    });
  }
  // lowest priority first, then worst J/TH, then id; in an emergency (minOnS not held) a miner
  // moved up within minOnS goes last, so the emergency moves one back only when it must
  const late = (c: ShedCandidate) => (emergency && c.withinMinOn ? 1 : 0);
  cands.sort(
    (a, b) => late(a) - late(b) || a.m.priority - b.m.priority || b.eff - a.eff || byId(a.m.id, b.m.id),
  );

  if (limitFirst) {
    for (const c of cands) {
      if (need <= 0) break;
      if (!c.canLimit) continue;
      const floor = c.floorW;
      if (floor >= c.powerW) continue;
      // rounded down: the limit takes at least the need (a fraction of a watt left over would sleep a
      // miner), never above the model's maximum (a miner drawing over it takes more than the need);
      // the firmware applies its step at or below it (a LuxOS profile), so that is what is counted
      const wanted = Math.min(
        c.m.maxPowerLimitW ?? Number.POSITIVE_INFINITY,
        Math.max(floor, Math.floor(c.powerW - need)),
      );
      const target = Math.max(floor, appliedLimitW(c.m, wanted) ?? floor);
      const delta = c.powerW - target;
      if (delta <= 0) continue;
      c.limitW = delta;
      c.limitTo = target;
      need -= delta;
    }
  }
  let heldW = 0;
  let sleeps = 0;
  let takenW = needW - need;
  for (const c of cands) {
    if (need <= 0) break;
    if (!c.canSleep) continue;
    if (c.held) {
      heldW += c.powerW;
      continue;
    }
    const stepW = c.powerW - c.limitW;
    // a spread cut stays within its share of the ramp (a smaller miner may still fit)
    const first = takenW === 0 && spread.oneFree;
    if (!first && takenW >= spread.hardW && takenW + stepW > spread.maxW) continue;
    c.sleep = true;
    sleeps++;
    need -= stepW;
    takenW += stepW;
  }
  // limits first (those not overtaken by a sleep), then sleeps, each in candidate order
  const sleepReason = emergency ? "emergency: over budget + emergency margin" : "over budget";
  for (const c of cands) {
    if (c.limitW > 0 && !c.sleep) {
      ctx.actions.push({
        deviceId: c.m.id,
        kind: "setPowerLimit",
        valueW: c.limitTo,
        expectedDeltaW: -c.limitW,
        reason: track ? "over the track band: lower target" : "over budget: power limit",
      });
    }
  }
  if (sleeps > 0) {
    for (const c of cands) {
      if (c.sleep) {
        ctx.actions.push({ deviceId: c.m.id, kind: "sleep", expectedDeltaW: -c.powerW, reason: sleepReason });
      }
    }
  }
  if (need <= 0) return;

  // still over. Flexible AI (tiers cap, then drain) may be capped while the miners left are
  // only held by minOnS; firm AI only once no flexible miner is left hashing
  const flexibleLeft = cands.some((c) => c.canSleep && !c.sleep);
  // a dwelling miner frees its share within dwellS: no AI is capped for that wait
  const waitForDwell = cands.some((c) => c.dwelling && !c.sleep);
  for (const tier of FLEX_ORDER) {
    if (need <= 0) return;
    if ((tier === "firm" && flexibleLeft) || waitForDwell) {
      ctx.alarms.push({
        code: "shed-held-min-on",
        message: `${Math.round(need)} W still to shed; ${Math.round(heldW)} W of miners held by minOnS${track ? " or dwellS" : ""}`,
      });
      return;
    }
    need = capAi(
      snapshot.gpuNodes.filter((n) => (n.flex ?? "firm") === tier),
      need,
      ctx,
    );
  }
  if (need > 0) {
    ctx.alarms.push({ code: "over-budget", message: `${Math.round(need)} W over with nothing left to shed` });
  }
}

/** Caps GPUs of these nodes (lowest priority first) towards their floors; returns what is still needed. */
function capAi(nodes: readonly PlanGpuNode[], needW: number, ctx: Ctx): number {
  const { ledger, now } = ctx;
  let need = needW;
  const order = nodes
    .filter((n) => {
      if (n.excluded) return false;
      const l = ledger.devices.get(n.id);
      return !isFailed(l, now) && !l?.pendingShed;
    })
    .sort((a, b) => (a.priority ?? 0) - (b.priority ?? 0) || byId(a.id, b.id));
  let capped = 0;
  let cappedW = 0;
  for (const n of order) {
    // a drain-tier node is drained (its workload manager told) before its first cap
    const drainAt = ctx.actions.length;
    const l = ledger.devices.get(n.id);
    const drained = l?.drainedAt != null;
    const gpus = [...n.gpus].sort((a, b) => a.index - b.index);
    for (const g of gpus) {
      if (need <= 0) break;
      if (g.powerW === null) continue;
      // a clock lock is one step: a GPU locked already has nothing more to give
      if (n.clockLocked && l?.gpuCaps?.has(g.index)) continue;
      const floor = Math.max(n.floorW, g.minLimitW ?? 0);
      const current = g.powerLimitW ?? g.maxLimitW ?? Number.POSITIVE_INFINITY;
      if (g.powerW <= floor) continue;
      const target = Math.max(floor, Math.ceil(g.powerW - need));
      if (target >= current) continue;
      const delta = g.powerW - target;
      if (delta <= 0) continue;
      ctx.actions.push({
        deviceId: n.id,
        kind: "capGpu",
        gpuIndex: g.index,
        valueW: target,
        expectedDeltaW: -delta,
        reason:
          (n.flex ?? "firm") === "firm"
            ? "over budget with no mining left"
            : `over budget: flexible AI (flex: ${n.flex})`,
      });
      need -= delta;
      capped++;
      cappedW += delta;
    }
    if (n.flex === "drain" && !drained && ctx.actions.length > drainAt) {
      ctx.actions.splice(drainAt, 0, {
        deviceId: n.id,
        kind: "drainGpuNode",
        expectedDeltaW: 0,
        reason: "drain before capping (flex: drain)",
      });
    }
    if (need <= 0) break;
  }
  if (capped > 0) {
    ctx.alarms.push({
      code: "ai-capped",
      message: `${capped} GPU(s) capped towards their floor, ${Math.round(cappedW)} W`,
    });
  }
  return need;
}
