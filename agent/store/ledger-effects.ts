// What a finished action does to its device's row: what the agent slept,
// limited, capped or drained, the direction it last moved the miner, and what
// an operator's action takes out of the agent's hands. Pure mutations of a
// DeviceRow, apart from ledger.ts so the rules can be read (and tested) without SQL.
import type { ActionKind } from "../control/types.ts";
import type { ActionRow, DeviceRow, GpuCaps } from "./ledger-schema.ts";

/** Which way an action moves a miner's power: the track mode's oscillation guard. */
function moveDir(kind: ActionKind): 1 | -1 | null {
  switch (kind) {
    case "sleep":
    case "setPowerLimit":
      return -1;
    case "wake":
    case "restorePowerLimit":
      return 1;
    default:
      return null;
  }
}

/**
 * An operator's action takes the device out of the agent's hands for what it
 * touched: a miner the operator slept or woke is no longer "slept by the
 * agent" (the policy never wakes what it did not sleep), and a limit the
 * operator set is not restored by the policy.
 */
function applyOperatorEffect(d: DeviceRow, row: ActionRow, at: number): void {
  switch (row.kind) {
    case "sleep":
    case "wake":
      d.slept_by_agent = 0;
      d.slept_at = null;
      d.slept_power_w = null;
      if (row.kind === "wake") d.woke_at = at;
      break;
    case "setPowerLimit":
    case "restorePowerLimit":
      d.power_limit_w = null;
      d.power_limit_at = null;
      break;
    case "capGpu":
    case "uncapGpu": {
      if (row.gpu_index === null || !d.gpu_caps) break;
      const caps = JSON.parse(d.gpu_caps) as GpuCaps;
      delete caps[String(row.gpu_index)];
      d.gpu_caps = Object.keys(caps).length > 0 ? JSON.stringify(caps) : null;
      break;
    }
    case "reboot":
    case "locate":
      break;
  }
}

/** A confirmed (or, after a crash, possibly taken) action's effect on its device's row. */
export function applyDeviceEffect(d: DeviceRow, row: ActionRow, at: number): void {
  d.fail_count = 0;
  d.failed_until = null;
  if (row.origin === "operator") {
    applyOperatorEffect(d, row, at);
    return;
  }
  const dir = moveDir(row.kind);
  if (dir !== null) {
    d.moved_at = at;
    d.moved_dir = dir;
  }
  switch (row.kind) {
    case "sleep":
      d.slept_by_agent = 1;
      d.slept_at = at;
      d.slept_power_w = row.before_w ?? Math.abs(row.expected_delta_w);
      d.efficiency_j_per_th = row.efficiency_j_per_th;
      break;
    case "wake":
      d.slept_by_agent = 0;
      d.slept_at = null;
      d.slept_power_w = null;
      d.woke_at = at;
      break;
    case "setPowerLimit":
      if (d.power_limit_w === null) {
        d.power_limit_w = row.prior_limit_w ?? row.before_w ?? null;
        d.power_limit_at = at;
      }
      break;
    case "restorePowerLimit":
      // track mode raises a target part of the way: the limit is the agent's until it is whole
      if (row.value_w === null || d.power_limit_w === null || row.value_w >= d.power_limit_w - 1) {
        d.power_limit_w = null;
        d.power_limit_at = null;
      }
      break;
    case "drainGpuNode":
      d.drained_at = at;
      break;
    case "resumeGpuNode":
      d.drained_at = null;
      break;
    case "capGpu":
    case "uncapGpu": {
      if (row.gpu_index === null) break;
      const caps: GpuCaps = d.gpu_caps ? (JSON.parse(d.gpu_caps) as GpuCaps) : {};
      const key = String(row.gpu_index);
      if (row.kind === "capGpu") {
        const original = row.prior_limit_w ?? row.before_w;
        if (!caps[key] && original != null) caps[key] = { originalW: original, at };
      } else {
        const cap = caps[key];
        if (cap && (row.value_w === null || row.value_w >= cap.originalW)) delete caps[key];
      }
      d.gpu_caps = Object.keys(caps).length > 0 ? JSON.stringify(caps) : null;
      break;
    }
  }
}
