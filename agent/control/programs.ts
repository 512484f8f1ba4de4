// Program deadlines (control.programs, ERS-10 / ERS-30): when the budget
// drops, the site has 10 or 30 minutes to be under it. The loop normally
// sheds at once; what could make it late is a miner held by minOnS, so while
// a deadline runs a miner whose minOnS would end after the deadline is not
// held (policy.ts). The watch opens a deadline on a drop, says when it was
// met, or that it was missed, once. Pure: `now` is an argument.
export interface DeadlineProgram {
  name: string;
  deadlineS: number;
}

export interface DeadlineNote {
  kind: "program-deadline-set" | "program-deadline-met" | "program-deadline-missed";
  message: string;
  data: Record<string, unknown>;
}

interface Open {
  program: DeadlineProgram;
  budgetW: number;
  openedAt: number;
  deadlineAt: number;
  missed: boolean;
}

/** One tick as a deadline sees it: the budget in force, the site power, the margin the loop aims under. */
export interface DeadlineTick {
  budgetW: number;
  powerW: number | null;
  shedMarginW: number;
}

export class DeadlineWatch {
  private lastBudgetW: number | null = null;
  private open: Open | null = null;

  constructor(private readonly programs: readonly DeadlineProgram[]) {}

  /** The deadline in force (epoch ms), if any. */
  get deadlineAt(): number | null {
    return this.open?.deadlineAt ?? null;
  }

  /**
   * Notes one tick: the budget in force and the site power it is measured
   * against (with the shed margin the loop aims under).
   */
  note({ budgetW, powerW, shedMarginW }: DeadlineTick, now: number): DeadlineNote[] {
    const out: DeadlineNote[] = [];
    // the tightest program sets the deadline (ERS-10 before ERS-30)
    const program = [...this.programs].sort((a, b) => a.deadlineS - b.deadlineS)[0];
    const prev = this.lastBudgetW;
    this.lastBudgetW = budgetW;
    if (!program) return out;
    if (prev !== null && budgetW < prev && (!this.open || budgetW < this.open.budgetW)) {
      this.open = {
        program,
        budgetW,
        openedAt: now,
        deadlineAt: now + program.deadlineS * 1000,
        missed: false,
      };
      out.push({
        kind: "program-deadline-set",
        message: `${program.name}: budget down to ${Math.round(budgetW / 1000)} kW, to be met within ${program.deadlineS / 60} min`,
        data: { program: program.name, budgetW, deadlineAt: new Date(this.open.deadlineAt).toISOString() },
      });
    }
    const o = this.open;
    if (!o) return out;
    if (budgetW > o.budgetW) {
      // released or raised before it was met: nothing left to meet
      this.open = null;
      return out;
    }
    if (powerW !== null && powerW <= budgetW - shedMarginW) {
      const s = Math.round((now - o.openedAt) / 1000);
      out.push({
        kind: "program-deadline-met",
        message: `${o.program.name}: under ${Math.round(budgetW / 1000)} kW ${s} s after the drop (deadline ${o.program.deadlineS / 60} min${now > o.deadlineAt ? ", MISSED" : ""})`,
        data: { program: o.program.name, budgetW, seconds: s, met: now <= o.deadlineAt },
      });
      this.open = null;
    } else if (!o.missed && now > o.deadlineAt) {
      o.missed = true;
      out.push({
        kind: "program-deadline-missed",
        message: `${o.program.name}: still over ${Math.round(budgetW / 1000)} kW at the deadline`,
        data: { program: o.program.name, budgetW, powerW },
      });
    }
    return out;
  }
}
