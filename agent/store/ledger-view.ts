// The ledger as the policy reads it: per-device state with the actions still
// pending (or confirmed but not yet in the meter's reading), and the recent
// restores and sheds. Apart from ledger.ts: the writes are one concern, this
// query (run every tick) another.
import type { DeviceLedger, LedgerView, PendingAction, RestoreRecord } from "../control/types.ts";
import { type GpuCaps, type LedgerStatements, RESTORE_KINDS } from "./ledger-schema.ts";

/** A confirmed action is never counted as pending for longer than this (a meter that stopped updating). */
const MAX_SETTLE_MS = 10_000;

function addPending(p: PendingAction | null | undefined, expectedW: number, at: number): PendingAction {
  return p
    ? { expectedW: p.expectedW + expectedW, issuedAt: Math.min(p.issuedAt, at) }
    : { expectedW, issuedAt: at };
}

export interface ViewQuery {
  now: number;
  /** When the site power the plan works on was measured. */
  observedAt?: number | null;
  settleMs: number;
  restoreHistoryMs: number;
}

/**
 * Exactly what `plan()` reads: per-device state with pending actions, and the
 * recent restores. `observedAt`: when the site power the plan works on was
 * measured; an action confirmed after it is not in that reading yet and still
 * counts as pending (else the next tick sheds it again: over-shedding by one
 * meter period). Bounded: no action stays pending past MAX_SETTLE_MS.
 */
export function ledgerView(s: LedgerStatements, q: ViewQuery): LedgerView {
  const { now, observedAt, settleMs, restoreHistoryMs } = q;
  const devices = new Map<string, DeviceLedger>();
  for (const d of s.devices.all()) {
    let gpuCaps: Map<number, { originalW: number; at: number }> | null = null;
    if (d.gpu_caps) {
      gpuCaps = new Map();
      for (const [k, v] of Object.entries(JSON.parse(d.gpu_caps) as GpuCaps)) gpuCaps.set(Number(k), v);
    }
    devices.set(d.device_id, {
      sleptAt: d.slept_by_agent ? d.slept_at : null,
      sleptPowerW: d.slept_by_agent ? d.slept_power_w : null,
      efficiencyJPerTh: d.efficiency_j_per_th,
      wokeAt: d.woke_at,
      failedUntil: d.failed_until,
      powerLimit: d.power_limit_w !== null ? { originalW: d.power_limit_w, at: d.power_limit_at ?? 0 } : null,
      gpuCaps,
      movedAt: d.moved_at,
      movedDir: d.moved_dir === 1 ? 1 : d.moved_dir === -1 ? -1 : null,
      drainedAt: d.drained_at,
      pendingWake: null,
      pendingShed: null,
    });
  }
  const settledBefore =
    observedAt != null ? Math.max(Math.min(observedAt, now - settleMs), now - MAX_SETTLE_MS) : now - settleMs;
  for (const r of s.live.all(settledBefore)) {
    const l: DeviceLedger = devices.get(r.device_id) ?? {};
    const w = Math.abs(r.expected_delta_w);
    if (RESTORE_KINDS.has(r.kind)) l.pendingWake = addPending(l.pendingWake, w, r.created_at);
    else l.pendingShed = addPending(l.pendingShed, w, r.created_at);
    devices.set(r.device_id, l);
  }
  const restores: RestoreRecord[] = s.restores.all(now - restoreHistoryMs).map((r) => ({
    deviceId: r.device_id,
    expectedW: Math.abs(r.expected_delta_w),
    at: r.created_at,
    kind: r.kind,
  }));
  const sheds: RestoreRecord[] = s.sheds.all(now - 60_000).map((r) => ({
    deviceId: r.device_id,
    expectedW: Math.abs(r.expected_delta_w),
    at: r.created_at,
  }));
  return { devices, restores, sheds };
}
