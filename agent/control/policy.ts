// The pure planner (docs/design.md, The control loop). Given the snapshot view,
// the budget, the control config and the ledger view, it returns the actions
// of one tick. No I/O, no clock, no randomness: `now` is an argument, and the
// same inputs always give the same plan (ties broken by id).
import type { MinerCapability, MinerState } from "../../drivers/types.ts";
import type {
  Alarm,
  DeviceLedger,
  GpuFlex,
  LedgerView,
  Plan,
  PlanAction,
  PlanGpuNode,
  PlanMiner,
  PlanMode,
  PlanSnapshot,
  PolicyConfig,
} from "./types.ts";

/** The sliding window of the ramp limit (`rampUpWPerMin`). */
export const RAMP_WINDOW_MS = 60_000;
/** A miner's power-limit floor when it declares none: this fraction of its full draw. */
export const DEFAULT_MINER_LIMIT_FLOOR_FRACTION = 0.6;
/** Track mode's defaults where the config gives no `track` section. */
export const DEFAULT_TRACK = { toleranceW: 20_000, dwellS: 30, deadbandW: 100 } as const;
/** GPU flex tiers, in the order they are capped. */
export const FLEX_ORDER: readonly GpuFlex[] = ["cap", "drain", "firm"];

const RUNNING: ReadonlySet<MinerState> = new Set<MinerState>(["hashing", "starting"]);
const NO_LEDGER: DeviceLedger = {};

function byId(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function can(m: PlanMiner, cap: MinerCapability): boolean {
  return m.capabilities.includes(cap);
}

/** J/TH of a reading: W ÷ TH/s. A miner drawing power without hashing is the worst (Infinity). */
export function efficiencyJPerTh(powerW: number | null, hashrateThs: number | null): number | null {
  if (powerW === null || powerW <= 0) return null;
  if (hashrateThs === null || hashrateThs <= 0) return Number.POSITIVE_INFINITY;
  return powerW / hashrateThs;
}

export function isFailed(l: DeviceLedger | undefined, now: number): boolean {
  return l?.failedUntil != null && l.failedUntil > now;
}

/**
 * The lowest power limit the loop may give a miner: its declared floor, else a fraction of its
 * full draw (the limit before the agent lowered it, so repeated trims do not ratchet it down).
 */
export function minerFloorW(m: PlanMiner, l: DeviceLedger | undefined): number {
  if (m.minPowerLimitW != null) return Math.ceil(m.minPowerLimitW);
  const full = l?.powerLimit?.originalW ?? m.powerLimitW ?? m.powerW ?? 0;
  return Math.ceil(full * DEFAULT_MINER_LIMIT_FLOOR_FRACTION);
}

/** Moved the other way within minOnS: moving it now would make it oscillate. */
function movedAgainst(l: DeviceLedger | undefined, dir: 1 | -1, now: number, minOnMs: number): boolean {
  return l?.movedAt != null && l.movedDir === -dir && now - l.movedAt < minOnMs;
}

/**
 * A miner the loop may sleep now or once its minOnS has run: running, drawing a
 * known power, sleep-capable, not excluded, not failed, no shed pending. While
 * one of these is still hashing, AI is not capped.
 */
export function isFlexible(m: PlanMiner, l: DeviceLedger | undefined, now: number): boolean {
  return (
    !m.excluded &&
    RUNNING.has(m.state) &&
    m.powerW !== null &&
    m.powerW > 0 &&
    can(m, "sleep") &&
    !isFailed(l, now) &&
    !l?.pendingShed
  );
}

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
  /** This plan's step for it: a power limit (W removed), or a sleep. */
  limitW: number;
  limitTo: number;
  sleep: boolean;
}

interface Ctx {
  config: PolicyConfig;
  ledger: LedgerView;
  now: number;
  /** A program deadline (ERS): a miner whose minOnS would end after it is not held. */
  deadlineAt: number | null;
  actions: PlanAction[];
  alarms: Alarm[];
}

// ---------------------------------------------------------------- shed

/**
 * Sheds needW: power limits first (strategy power-limit-then-sleep or track), then sleeps, then
 * GPU caps by flex tier. `breach`: P is over the budget itself, so track's dwell does not hold a
 * trim back (a breach always sheds at once).
 */
function shed(snapshot: PlanSnapshot, needW: number, emergency: boolean, breach: boolean, ctx: Ctx): void {
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
    const held =
      !emergency && now - upAt < minOnMs && (ctx.deadlineAt === null || upAt + minOnMs <= ctx.deadlineAt);
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
      canSleep,
      canLimit: canLimit && !(track && held) && !dwelling,
      limitW: 0,
      limitTo: 0,
      sleep: false,
      floorW: minerFloorW(m, l),
    });
  }
  // lowest priority first, then worst J/TH, then id
  cands.sort((a, b) => a.m.priority - b.m.priority || b.eff - a.eff || byId(a.m.id, b.m.id));

  if (limitFirst) {
    for (const c of cands) {
      if (need <= 0) break;
      if (!c.canLimit) continue;
      const floor = c.floorW;
      if (floor >= c.powerW) continue;
      // rounded down: the limit takes at least the need (a fraction of a watt left over would sleep a miner)
      const target = Math.max(floor, Math.floor(c.powerW - need));
      const delta = c.powerW - target;
      if (delta <= 0) continue;
      c.limitW = delta;
      c.limitTo = target;
      need -= delta;
    }
  }
  let heldW = 0;
  let sleeps = 0;
  for (const c of cands) {
    if (need <= 0) break;
    if (!c.canSleep) continue;
    if (c.held) {
      heldW += c.powerW;
      continue;
    }
    c.sleep = true;
    sleeps++;
    need -= c.powerW - c.limitW;
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
    const drained = ledger.devices.get(n.id)?.drainedAt != null;
    const gpus = [...n.gpus].sort((a, b) => a.index - b.index);
    for (const g of gpus) {
      if (need <= 0) break;
      if (g.powerW === null) continue;
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

// ---------------------------------------------------------------- restore

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
}

/**
 * Adds up to addW: AI caps first, then miner limits (track: targets raised), then wakes (track:
 * only once no target the agent lowered is left below its maximum). Mining that fills an AI fall
 * (snapshot.aiFall) keeps the site flat: the fall is credited to the ramp, and what restores
 * since the fall have not filled yet passes the stagger and the slope.
 */
function restore(snapshot: PlanSnapshot, addW: number, ctx: Ctx): void {
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
  if (fillLeft === 0 && now - lastAt < config.restoreStaggerS * 1000) return;
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
        limits.push({ m, expectedW: Math.max(0, l.powerLimit.originalW - m.powerW), eff });
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
      if (movedAgainst(l, 1, now, minOnMs)) continue;
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
  wakes.sort(best);
  for (const c of limits) {
    if (c.expectedW > allowance || !fitsBatch(c.expectedW)) {
      leftOut = true;
      continue;
    }
    push({
      deviceId: c.m.id,
      kind: "restorePowerLimit",
      valueW: ledger.devices.get(c.m.id)!.powerLimit!.originalW,
      expectedDeltaW: c.expectedW,
      reason: "under budget: restore power limit",
    });
  }
  for (const c of raises) {
    let step = Math.min(c.maxW - c.fromW, allowance);
    if (batchActions > 0) step = Math.min(step, batchLeft);
    const toMax = c.fromW + step >= c.maxW - 1;
    // a small move is not worth a command, unless it is the last one up to the maximum
    if (step <= 0 || (!toMax && step < t.deadbandW)) {
      leftOut = true;
      continue;
    }
    const valueW = toMax ? c.maxW : Math.floor(c.fromW + step);
    push({
      deviceId: c.m.id,
      kind: "restorePowerLimit",
      valueW,
      expectedDeltaW: Math.max(1, Math.min(step, valueW - (c.m.powerW ?? c.fromW))),
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
function resumeDrained(snapshot: PlanSnapshot, ctx: Ctx): void {
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

// ---------------------------------------------------------------- ramp down

/**
 * What this tick may shed under `rampDownWPerMin`: all of what the hard budget forces, and of
 * the rest (the economic cut) what the last 60 s of sheds leave of a minute's ramp down.
 */
function rampedShedW(
  projected: number,
  shedLine: number,
  hardBudgetW: number | null | undefined,
  ctx: Ctx,
): number {
  const needW = projected - shedLine;
  const rampDown = ctx.config.rampDownWPerMin;
  if (rampDown == null || hardBudgetW == null) return needW;
  const hardNeedW = Math.max(0, projected - (hardBudgetW - ctx.config.shedMarginW));
  const softNeedW = Math.max(0, needW - hardNeedW);
  let recentW = 0;
  for (const s of ctx.ledger.sheds ?? [])
    if (s.at > ctx.now - RAMP_WINDOW_MS && s.at <= ctx.now) recentW += s.expectedW;
  const softW = Math.min(softNeedW, Math.max(0, rampDown - recentW));
  if (softW < softNeedW) {
    ctx.alarms.push({ code: "ramp-down-limited", message: "an economic cut spread by rampDownWPerMin" });
  }
  return hardNeedW + softW;
}

// ---------------------------------------------------------------- plan

/**
 * One tick's plan. P is the snapshot's power; when it is unknown the sum of
 * device reports stands in (alarm `power-unknown`) and nothing is restored.
 * Over: P − pending sheds + pending restores > B − shedMarginW. Under:
 * P < B − restoreMarginW. Emergency: P > B + emergencyMarginW.
 */
export function plan(
  snapshot: PlanSnapshot,
  budget: {
    budgetW: number;
    deadlineAt?: number | null;
    /** The budget of the hard sources alone (without the economic cut); absent: all of B is hard. */
    hardBudgetW?: number | null;
  },
  config: PolicyConfig,
  ledger: LedgerView,
  now: number,
): Plan {
  const B = budget.budgetW;
  const ctx: Ctx = { config, ledger, now, deadlineAt: budget.deadlineAt ?? null, actions: [], alarms: [] };

  let pendingWakeW = 0;
  let pendingShedW = 0;
  for (const l of ledger.devices.values()) {
    if (l.pendingWake) pendingWakeW += l.pendingWake.expectedW;
    if (l.pendingShed) pendingShedW += l.pendingShed.expectedW;
  }

  let P = snapshot.powerW;
  const known = P !== null;
  if (P === null) {
    P = 0;
    for (const m of snapshot.miners) P += m.powerW ?? 0;
    for (const n of snapshot.gpuNodes) for (const g of n.gpus) P += g.powerW ?? 0;
    ctx.alarms.push({ code: "power-unknown", message: "no site power: planning on device reports" });
  }
  // swing absorption: an AI step the meter has not shown yet counts now, so mining moves in
  // the same tick (the step's own size, not a meter period later)
  const aiSwingW = known ? (snapshot.aiSwingW ?? 0) : 0;
  if (aiSwingW !== 0) {
    P += aiSwingW;
    ctx.alarms.push({
      code: "ai-step",
      message: `AI ${aiSwingW > 0 ? "rose" : "fell"} ${Math.round(Math.abs(aiSwingW))} W since the site meter's reading: mining compensates now`,
    });
  }

  const shedLine = B - config.shedMarginW;
  const headroomW = shedLine - P - pendingWakeW;
  const projected = P - pendingShedW + pendingWakeW;
  const emergency = P > B + config.emergencyMarginW;
  const track = config.strategy === "track";
  const toleranceW = (config.track ?? DEFAULT_TRACK).toleranceW;
  let mode: PlanMode = "hold";
  if (projected > shedLine) {
    mode = "shed";
    if (emergency) ctx.alarms.push({ code: "emergency", message: `P ${P} W > budget + emergency margin` });
    const needW = emergency
      ? projected - shedLine
      : rampedShedW(projected, shedLine, budget.hardBudgetW, ctx);
    if (needW > 0) shed(snapshot, needW, emergency, P > B, ctx);
  } else if (track ? known && headroomW > toleranceW : known && P < B - config.restoreMarginW) {
    // track fills to the middle of its band under the shed line; sleep restores what fits
    mode = "restore";
    restore(snapshot, track ? headroomW - toleranceW / 2 : headroomW, ctx);
  }
  if (mode !== "shed") resumeDrained(snapshot, ctx);
  return { actions: ctx.actions, budgetW: B, headroomW, mode, alarms: ctx.alarms };
}
