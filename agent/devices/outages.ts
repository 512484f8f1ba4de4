// One event per device outage, for every device class. A device's problem is
// identified by a stable reason code (`WK_MODBUS_REFUSED`, `pool-dead`), never
// by its text: a dead meter's text carries a countdown ("not reconnecting for
// 5654 ms after 19 errors") and would otherwise be news every second. An outage
// runs from the first problem reading to the first good one; within it each
// new code is reported once, and the recovery reports how long it lasted and
// how many reads failed. Pure: the Site stores, logs and fans out the events.
import type { ErrorCode } from "../../drivers/errors.ts";
import type { NewSiteEvent } from "../store/events.ts";

/** A device's problem as a poller sees it: a stable code and a text for people. */
export interface DeviceProblem {
  code: string;
  message: string;
  /** Defaults to warning. */
  severity?: "warning" | "alarm";
}

/**
 * Codes that say only that an earlier problem goes on (a Modbus link in its
 * reconnect backoff carries the error that caused it): never news on their own
 * within an outage.
 */
const CONTINUATION_CODES = new Set<string>(["WK_MODBUS_BACKOFF"] satisfies ErrorCode[]);

/**
 * Transport failures that all say "nothing answers": a dead port refuses at once, or times out
 * when the host is busy. Within an outage one of them after another is the same news.
 */
const NO_ANSWER = /_(REFUSED|TIMEOUT|UNREACHABLE|RESET)$/;
const kindOf = (code: string) => (NO_ANSWER.test(code) ? `${code.replace(NO_ANSWER, "")}:no-answer` : code);

/**
 * The stable code of a reason text: its leading `WK_…` error code (drivers
 * write reasons as `CODE: message`), else `fallback` (the device's state) with
 * the words of the text, digits dropped — "no pool alive" → `faulted:no-pool-alive`.
 */
export function reasonCode(reason: string | null | undefined, fallback: string): string {
  const text = reason ?? "";
  const m = /\b(WK_[A-Z0-9_]+)\b/.exec(text);
  if (m) return m[1]!;
  const words = text
    .toLowerCase()
    .replace(/[^a-z]+/g, " ")
    .trim()
    .split(" ")
    .filter((w) => w.length > 0)
    .slice(0, 6)
    .join("-");
  return words ? `${fallback}:${words}` : fallback;
}

interface Outage {
  since: number;
  failedReads: number;
  /** Codes already reported in this outage. */
  codes: Set<string>;
  lastMessage: string;
}

/** What happened to one device's problem at one reading, for the caller to log. */
export type OutageChange =
  | { kind: "degraded"; event: NewSiteEvent }
  | { kind: "recovered"; event: NewSiteEvent };

export class OutageWatch {
  private readonly open = new Map<string, Outage>();

  /**
   * Notes one reading's outcome for a device: null = fine. Returns the event
   * to emit, if any: the start of an outage, a new kind of problem within one,
   * or its end.
   */
  note(deviceId: string, problem: DeviceProblem | null, at: number): OutageChange | null {
    const outage = this.open.get(deviceId);
    if (problem === null) {
      if (!outage) return null;
      this.open.delete(deviceId);
      const durationS = Math.max(0, Math.round((at - outage.since) / 1000));
      const codes = [...outage.codes];
      return {
        kind: "recovered",
        event: {
          at,
          kind: "device-recovered",
          severity: "info",
          deviceId,
          message: `${deviceId} recovered after ${formatDuration(durationS)} (${outage.failedReads} failed read${
            outage.failedReads === 1 ? "" : "s"
          }; ${codes.join(", ")})`,
          data: { durationS, failedReads: outage.failedReads, codes, lastMessage: outage.lastMessage },
        },
      };
    }
    if (!outage) {
      this.open.set(deviceId, {
        since: at,
        failedReads: 1,
        codes: new Set([problem.code]),
        lastMessage: problem.message,
      });
      return { kind: "degraded", event: degraded(deviceId, problem, { at, changed: false }) };
    }
    outage.failedReads++;
    outage.lastMessage = problem.message;
    if (CONTINUATION_CODES.has(problem.code)) return null;
    const kind = kindOf(problem.code);
    if ([...outage.codes].some((c) => kindOf(c) === kind)) return null;
    outage.codes.add(problem.code);
    return { kind: "degraded", event: degraded(deviceId, problem, { at, changed: true }) };
  }

  /** Devices in an outage now, with when it began (for the page and tests). */
  openOutages(): Array<{ deviceId: string; since: number; failedReads: number; codes: string[] }> {
    return [...this.open].map(([deviceId, o]) => ({
      deviceId,
      since: o.since,
      failedReads: o.failedReads,
      codes: [...o.codes],
    }));
  }

  /** When a device's open outage began (epoch ms), or null when it has none. */
  sinceOf(deviceId: string): number | null {
    return this.open.get(deviceId)?.since ?? null;
  }

  /** Forgets a device (removed from the config). */
  forget(deviceId: string): void {
    this.open.delete(deviceId);
  }
}

/** `changed`: the outage was open already and its reason changed kind. */
function degraded(
  deviceId: string,
  problem: DeviceProblem,
  { at, changed }: { at: number; changed: boolean },
): NewSiteEvent {
  return {
    at,
    kind: "device-degraded",
    severity: problem.severity ?? "warning",
    deviceId,
    message: `${deviceId}: ${problem.message}`,
    data: { code: problem.code, changed },
  };
}

/** 95 → "1 min 35 s", 7260 → "2 h 1 min". */
export function formatDuration(totalS: number): string {
  const s = Math.max(0, Math.round(totalS));
  if (s < 60) return `${s} s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return m > 0 ? `${h} h ${m} min` : `${h} h`;
  const rest = s % 60;
  return rest > 0 ? `${m} min ${rest} s` : `${m} min`;
}
