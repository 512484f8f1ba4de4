// What `npm run scenario` writes beside its step figures: one M&V record per
// curtailment event (a step with a requested target: baseline before, delivered
// reduction, compliance once settled), the ERS-10 deployment's timing against
// its deadline, and the M&V records as JSON and CSV.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Sample } from "./scenario-figures.ts";
import type { StepWindow } from "./scenario-phase.ts";

const avg = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

export interface MnvRecord {
  event: string;
  start: string;
  durationS: number;
  baselineW: number;
  targetW: number | null;
  deliveredReductionW: number;
  compliant: boolean;
}

/** Baseline: the 5 s before the event; compliant: at or under the target from 5 s in. */
export function mnvRecords(samples: readonly Sample[], windows: readonly StepWindow[]): MnvRecord[] {
  return windows
    .filter((w) => w.target !== null)
    .map((w) => {
      const before = samples.filter((s) => s.at >= w.from - 5000 && s.at < w.from);
      const during = samples.filter((s) => s.at >= w.from && s.at < w.to);
      const baselineW = avg(before.map((s) => s.siteW));
      const settled = during.filter((s) => s.at >= w.from + 5000);
      return {
        event: w.name,
        start: new Date(w.from).toISOString(),
        durationS: Math.round((w.to - w.from) / 1000),
        baselineW: Math.round(baselineW),
        targetW: w.target,
        deliveredReductionW: Math.round(baselineW - avg(during.map((s) => s.siteW))),
        compliant: settled.every((s) => s.siteW <= (w.target as number)),
      };
    });
}

export interface ProgramEvent {
  at: number;
  kind: string;
  message: string;
  data: Record<string, unknown> | null;
}

/** From the setpoint written (`ersAt`; 0: never) to the site under it (ground truth), and the program's own verdict. */
export function ersFigures(
  samples: readonly Sample[],
  o: { ersAt: number; ersW: number; deadlineEvents: readonly ProgramEvent[] },
) {
  const { ersAt, ersW, deadlineEvents } = o;
  if (!ersAt) return null;
  const underAt = samples.find((s) => s.at >= ersAt && s.siteW <= ersW)?.at ?? null;
  const met = deadlineEvents.find((e) => e.kind === "program-deadline-met" && e.at >= ersAt);
  return {
    targetW: ersW,
    siteWAtWrite: samples.filter((s) => s.at < ersAt).at(-1)?.siteW ?? null,
    secondsToTarget: underAt === null ? null : Number(((underAt - ersAt) / 1000).toFixed(2)),
    deadlineS: 600,
    deadlineHeld: met?.data?.met === true && underAt !== null && underAt - ersAt <= 600_000,
    agentSaid:
      met?.message ?? deadlineEvents.filter((e) => e.at >= ersAt).at(-1)?.message ?? "no program event",
  };
}

/** `mnv.json` and `mnv.csv` in `dir`. */
export function writeMnv(dir: string, mnv: readonly MnvRecord[]): void {
  writeFileSync(join(dir, "mnv.json"), `${JSON.stringify(mnv, null, 2)}\n`);
  const keys = Object.keys(mnv[0]!) as Array<keyof MnvRecord>;
  writeFileSync(
    join(dir, "mnv.csv"),
    `${[keys.join(","), ...mnv.map((m) => keys.map((k) => JSON.stringify(m[k])).join(","))].join("\n")}\n`,
  );
}
