// Clock locking, the alternative to a power cap where a node is configured for
// it: `nvidia-smi -i N -lgc 0,MAX` holds the SM clock at or under MAX MHz
// (MIN 0: no floor asked for; the ceiling is what sheds power), `-rgc` gives
// the range back. Pure helpers; the SSH runs are in node.ts.
//
// No `--query-gpu` field reports the locked range itself (`clocks.max.sm` is
// the card's own maximum, not the lock), so a lock is confirmed by the exit
// status and text of `-lgc`, then by `clocks.sm` read back at or under the
// ceiling; the loop confirms the effect the way it does for caps, by power
// falling. Like power limits, locks do not survive a driver reload or reboot.
import { exitReason } from "./parse.ts";
import type { ClockLockOutcome, ExecResult, GpuDetail } from "./types.ts";

/** What a clock command needs from the node: its nvidia-smi runner and one-GPU read. */
export interface ClockPort {
  smi(args: string[], signal?: AbortSignal): Promise<ExecResult>;
  gpu(
    index: number,
    signal?: AbortSignal,
  ): Promise<{ ok: true; gpu: GpuDetail } | { ok: false; reason: string }>;
  timeoutMs: number;
  /** The node's locks by GPU UUID (MHz): set on a confirmed lock, cleared on a reset. */
  locks: Map<string, number>;
  describe(err: unknown): string;
}

/** Highest ceiling accepted (MHz): no GPU clocks near this; a typo such as 14100 is refused. */
const MAX_CLOCK_MHZ = 5000;

/** `clocks.sm` may sit one step (~15 MHz) over the asked ceiling: the driver rounds to a supported clock. */
function clockToleranceMHz(maxMHz: number): number {
  return Math.max(15, maxMHz * 0.01);
}

export function lockClocksArgs(index: number, maxMHz: number): string[] {
  return ["-i", String(index), "-lgc", `0,${maxMHz}`];
}

function resetClocksArgs(index: number): string[] {
  return ["-i", String(index), "-rgc"];
}

/** Why a lock request is not sent (null = it may be). */
export function clockLockProblem(index: number, maxMHz: number): string | null {
  if (!Number.isInteger(index) || index < 0) return "GPU index must be a whole number ≥ 0";
  if (!Number.isInteger(maxMHz) || maxMHz <= 0 || maxMHz > MAX_CLOCK_MHZ)
    return `the clock ceiling must be a whole number of MHz in (0, ${MAX_CLOCK_MHZ}]`;
  return null;
}

/**
 * Why a `-lgc`/`-rgc` run was refused, from its status and text; null when it took.
 * Some drivers print "not supported" and still exit 0 (as `-pl` does on some
 * boards), so the text is read as well as the code.
 */
export function clockCommandRefusal(
  what: "-lgc" | "-rgc",
  { code, stdout, stderr }: { code: number | null; stdout: string; stderr: string },
): string | null {
  const text = `${stdout}\n${stderr}`;
  if (code === 0 && !/not supported|insufficient permissions|failed|invalid|terminating early/i.test(text))
    return null;
  return `nvidia-smi ${what} refused: ${exitReason(code, stdout, stderr)}`;
}

/** `-lgc 0,MAX` (maxMHz) or `-rgc` (null) on one GPU, then `clocks.sm` read back. Never throws. */
export async function runClockCommand(
  port: ClockPort,
  { index, maxMHz, signal }: { index: number; maxMHz: number | null; signal?: AbortSignal | undefined },
): Promise<ClockLockOutcome> {
  const what = maxMHz === null ? "-rgc" : "-lgc";
  const base = { index, requestedMaxMHz: maxMHz, smClockMHz: null as number | null };
  let r: ExecResult;
  try {
    r = await port.smi(maxMHz === null ? resetClocksArgs(index) : lockClocksArgs(index, maxMHz), signal);
  } catch (err) {
    return { ...base, ok: false, reason: port.describe(err) };
  }
  if (r.timedOut)
    return { ...base, ok: false, reason: `nvidia-smi ${what} did not answer within ${port.timeoutMs} ms` };
  const refusal = clockCommandRefusal(what, r);
  if (refusal !== null) return { ...base, ok: false, reason: refusal };
  const after = await port.gpu(index, signal);
  if (!after.ok) return { ...base, ok: false, reason: `not confirmed: ${after.reason}` };
  const g = after.gpu;
  const sm = g.smClockMHz;
  if (maxMHz === null) {
    if (g.uuid !== null) port.locks.delete(g.uuid);
    return { ...base, ok: true, reason: null, smClockMHz: sm };
  }
  if (sm !== null && sm > maxMHz + clockToleranceMHz(maxMHz))
    return {
      ...base,
      ok: false,
      reason: `not confirmed: clocks.sm reads ${sm} MHz, over the ${maxMHz} MHz ceiling`,
      smClockMHz: sm,
    };
  if (g.uuid !== null) port.locks.set(g.uuid, maxMHz);
  return {
    ...base,
    ok: true,
    reason: sm === null ? `clocks.sm not read back (${g.nullReasons.smClockMHz ?? "unknown"})` : null,
    smClockMHz: sm,
  };
}
