// What the planner's parts share (agent/control/policy.ts, shed.ts,
// restore.ts): constants, the per-plan context, and small pure helpers over
// one device's view and ledger.
import type { MinerCapability, MinerState } from "../../drivers/types.ts";
import type {
  Alarm,
  DeviceLedger,
  GpuFlex,
  LedgerView,
  PlanAction,
  PlanMiner,
  PolicyConfig,
  RestoreRecord,
} from "./types.ts";

/** The sliding window of the ramp limit (`rampUpWPerMin`). */
export const RAMP_WINDOW_MS = 60_000;
/** A miner's power-limit floor when it declares none: this fraction of its full draw. */
const DEFAULT_MINER_LIMIT_FLOOR_FRACTION = 0.6;
/** Track mode's defaults where the config gives no `track` section. */
export const DEFAULT_TRACK = { toleranceW: 20_000, dwellS: 30, deadbandW: 100 } as const;
/** GPU flex tiers, in the order they are capped. */
export const FLEX_ORDER: readonly GpuFlex[] = ["cap", "drain", "firm"];

export const RUNNING: ReadonlySet<MinerState> = new Set<MinerState>(["hashing", "starting"]);
export const NO_LEDGER: DeviceLedger = {};

export function byId(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function can(m: PlanMiner, cap: MinerCapability): boolean {
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

/**
 * The limit a miner's firmware applies for a target of `w`: its highest step at or below `w`
 * (LuxOS picks a profile that way), `w` itself without steps; null when no step is that low.
 */
export function appliedLimitW(m: PlanMiner, w: number): number | null {
  const steps = m.powerLimitStepsW;
  if (!steps || steps.length === 0) return w;
  let best: number | null = null;
  for (const s of steps) if (s <= w + 0.5 && (best === null || s > best)) best = s;
  return best;
}

/**
 * A power limit within the miner's range: never under its floor (minerFloorW), never over its
 * model's maximum. A limit outside the range is never planned (the driver would refuse it).
 */
export function withinRangeW(m: PlanMiner, l: DeviceLedger | undefined, w: number): number {
  return Math.min(m.maxPowerLimitW ?? Number.POSITIVE_INFINITY, Math.max(minerFloorW(m, l), w));
}

/**
 * Power still to come from wakes that have left sleep but not reached their draw yet: a
 * miner's model takes wakeUpS from the wake command to full hashing, and until then P shows
 * only part of the wake. Counted as a restore not yet in P (the ledger counts a wake not yet
 * confirmed whole, as pendingWake, so those are left out here).
 */
/** A woken miner within this fraction of its expected draw has finished its ramp. */
const RAMP_ARRIVED_FRACTION = 0.1;

export function rampingWakeW(miners: readonly PlanMiner[], ledger: LedgerView, now: number): number {
  const lastWake = new Map<string, RestoreRecord>();
  for (const r of ledger.restores) {
    if (r.kind !== "wake" || r.at > now) continue;
    const prev = lastWake.get(r.deviceId);
    if (!prev || r.at > prev.at) lastWake.set(r.deviceId, r);
  }
  if (lastWake.size === 0) return 0;
  let totalW = 0;
  for (const m of miners) {
    if (m.wakeUpS == null || m.wakeUpS <= 0 || !RUNNING.has(m.state)) continue;
    const wake = lastWake.get(m.id);
    if (!wake || now - wake.at >= m.wakeUpS * 1000) continue;
    const l = ledger.devices.get(m.id);
    // only a wake that has been confirmed (and settled): the ledger counts it until then
    if (!l || l.pendingWake || l.wokeAt == null || l.wokeAt < wake.at) continue;
    // a target set since the wake: the miner now draws what the target allows, not the wake
    if (l.movedAt != null && l.movedAt > l.wokeAt) continue;
    const expectedW = Math.min(wake.expectedW, m.powerLimitW ?? Number.POSITIVE_INFINITY);
    const shortW = expectedW - (m.powerW ?? 0);
    // within a tenth of its draw it has arrived: what is left is the reading's jitter, and
    // counting max(0, jitter) over many woken miners would hold back headroom that is there
    if (shortW > expectedW * RAMP_ARRIVED_FRACTION) totalW += shortW;
  }
  return totalW;
}

/** Moved the other way within minOnS: moving it now would make it oscillate. */
export function movedAgainst(
  l: DeviceLedger | undefined,
  dir: 1 | -1,
  { now, minOnMs }: { now: number; minOnMs: number },
): boolean {
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

export interface Ctx {
  config: PolicyConfig;
  ledger: LedgerView;
  now: number;
  /** A program deadline (ERS): a miner whose minOnS would end after it is not held. */
  deadlineAt: number | null;
  actions: PlanAction[];
  alarms: Alarm[];
}
