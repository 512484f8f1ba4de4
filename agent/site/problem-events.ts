// Problems raised and cleared as events (docs/design.md, HTTP: problems): the
// list GET /api/problems shows is checked every few seconds; a problem present
// in two checks in a row is raised (one event), one absent from two checks in
// a row is cleared (one event, with how long it lasted). Two checks, so a
// flapping reading does not write an event each way every sweep. Pure state:
// the caller passes the list and the time, and stores what comes back.

import type { NewSiteEvent } from "../store/events.ts";
import type { Problem } from "./problems.ts";

interface Tracked {
  problem: Problem;
  raisedAt: number | null;
  /** Consecutive checks it was seen (before raising) or missed (after). */
  streak: number;
}

/** Checks a problem must be seen (or missed) in a row to be raised (or cleared). */
const CONFIRM_CHECKS = 2;

const keyOf = (p: Problem) => `${p.kind}\u0000${p.id}`;

export class ProblemWatch {
  private readonly tracked = new Map<string, Tracked>();

  /** Notes this check's problems; returns the events to store. */
  note(problems: readonly Problem[], now: number): NewSiteEvent[] {
    const out: NewSiteEvent[] = [];
    const seen = new Set<string>();
    for (const p of problems) {
      const key = keyOf(p);
      seen.add(key);
      const t = this.tracked.get(key);
      if (!t) {
        this.tracked.set(key, { problem: p, raisedAt: null, streak: 1 });
        continue;
      }
      t.problem = p;
      if (t.raisedAt === null) {
        if (++t.streak >= CONFIRM_CHECKS) {
          t.raisedAt = now;
          t.streak = 0;
          out.push(raised(p, now));
        }
      } else t.streak = 0;
    }
    for (const [key, t] of this.tracked) {
      if (seen.has(key)) continue;
      if (t.raisedAt === null) {
        this.tracked.delete(key);
        continue;
      }
      if (++t.streak >= CONFIRM_CHECKS) {
        this.tracked.delete(key);
        out.push(cleared(t.problem, t.raisedAt, now));
      }
    }
    return out;
  }
}

function raised(p: Problem, at: number): NewSiteEvent {
  return {
    at,
    kind: "problem-raised",
    severity: p.severity === "critical" ? "alarm" : "warning",
    deviceId: p.id,
    message: `${p.id}: ${p.message} — ${p.fix}`,
    data: { problem: p.kind, location: p.location, severity: p.severity },
  };
}

function cleared(p: Problem, raisedAt: number, at: number): NewSiteEvent {
  const s = Math.round((at - raisedAt) / 1000);
  return {
    at,
    kind: "problem-cleared",
    severity: "info",
    deviceId: p.id,
    message: `${p.id}: cleared after ${s} s (${p.message})`,
    data: { problem: p.kind, location: p.location, seconds: s },
  };
}
