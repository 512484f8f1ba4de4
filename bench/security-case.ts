// The shape of one `npm run security` case, shared by the attack-family modules
// (bench/security-*.ts) and the runner that tabulates them (bench/security.ts).

export interface Counts {
  attempted: number;
  refused: number;
  /** Got through where it must not (applied, logged in, held beyond a cap). Goal: 0. */
  applied: number;
  /** Refused with the reason expected for the case (null: not judged per attempt). */
  expectedReason?: number | null;
  note?: string;
}

export interface SecurityCase {
  /** What it covers: the issue item or defect. */
  item: string;
  name: string;
  run: () => Promise<Counts>;
}

/** A fresh tally for a case judged per attempt (`expectedReason` counted) or not (null). */
export function counts(judged = true): Counts {
  return { attempted: 0, refused: 0, applied: 0, expectedReason: judged ? 0 : null };
}
