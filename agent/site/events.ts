// What the control loop reports, as site events: an action's outcome (shed,
// restored, ai-capped, action-failed), and a change of the budget or of an
// alarm — one event when it changes, never one per tick. Pure: the Site stores
// and fans out what these return.
import { formatPowerW } from "../../config/units.ts";
import type { ControlEvent, TickResult } from "../control/loop.ts";
import type { NewSiteEvent } from "../store/events.ts";

const SHED_KINDS = new Set(["sleep", "setPowerLimit", "capGpu"]);
/** Plan alarms worth an event (the others are states the page shows). */
const ALARM_EVENTS = new Set(["ai-capped", "emergency", "over-budget"]);

/** The policy's confirmed or failed action as an event; null for an operator's (reported with who asked). */
export function outcomeEvent(e: ControlEvent): NewSiteEvent | null {
  if (e.type !== "outcome") return null;
  const a = e.action;
  if (a.origin === "operator") return null;
  const command = a.kind === "drainGpuNode" || a.kind === "resumeGpuNode";
  const kind = !e.ok
    ? "action-failed"
    : a.kind === "drainGpuNode"
      ? "ai-drained"
      : a.kind === "resumeGpuNode"
        ? "ai-resumed"
        : a.kind === "capGpu"
          ? "ai-capped"
          : a.kind === "uncapGpu"
            ? "ai-restored"
            : SHED_KINDS.has(a.kind)
              ? "shed"
              : "restored";
  const what = a.gpuIndex !== undefined ? `${a.deviceId} GPU ${a.gpuIndex}` : a.deviceId;
  const value = a.valueW !== undefined ? ` to ${formatPowerW(a.valueW)}` : "";
  return {
    at: e.at,
    kind,
    severity: e.ok ? (a.kind === "capGpu" ? "alarm" : "info") : "warning",
    deviceId: a.deviceId,
    // a workload-manager command's outcome is its audit: the command, its exit, what it printed
    message: e.ok
      ? `${a.kind} ${what}${value}: ${a.reason}${command ? ` — ${e.reason}` : ""}`
      : `${a.kind} ${what}${value} failed after ${e.attempts} attempt(s): ${e.reason}`,
    data: {
      action: a.kind,
      valueW: a.valueW ?? null,
      gpuIndex: a.gpuIndex ?? null,
      expectedDeltaW: a.expectedDeltaW,
      ledgerId: e.id,
      origin: a.origin ?? "policy",
    },
  };
}

/** A program deadline set, met or missed (control.programs) as an event. */
export function programEvent(e: ControlEvent): NewSiteEvent | null {
  if (e.type !== "program") return null;
  const n = e.note;
  return {
    at: e.at,
    kind: n.kind,
    severity: n.kind === "program-deadline-missed" ? "alarm" : n.data.met === false ? "warning" : "info",
    message: n.message,
    data: n.data,
  };
}

/** Remembers the last budget and alarms, and returns events for what changed. */
export class ChangeWatch {
  private lastBudgetKey: string | null = null;
  private lastAlarms = new Set<string>();

  note(control: TickResult | null, at: number): NewSiteEvent[] {
    const out: NewSiteEvent[] = [];
    const b = control?.budget;
    if (b) {
      const key = `${Math.round(b.budgetW)}|${b.source}|${b.reason}`;
      if (key !== this.lastBudgetKey) {
        const first = this.lastBudgetKey === null;
        this.lastBudgetKey = key;
        // the contract at boot is not news
        if (!first || b.source !== "contract") {
          out.push({
            at,
            kind: b.source === "failsafe" ? "failsafe" : "budget-changed",
            severity: b.source === "failsafe" ? "alarm" : "info",
            message: `budget ${formatPowerW(b.budgetW)} (${b.source}): ${b.reason}`,
            data: { budgetW: b.budgetW, source: b.source, reason: b.reason },
          });
        }
      }
    }
    const alarms = control?.plan?.alarms ?? [];
    for (const a of alarms) {
      if (!this.lastAlarms.has(a.code) && ALARM_EVENTS.has(a.code)) {
        out.push({
          at,
          kind: a.code,
          severity: a.code === "over-budget" ? "warning" : "alarm",
          message: a.message,
        });
      }
    }
    this.lastAlarms = new Set(alarms.map((a) => a.code));
    return out;
  }
}
