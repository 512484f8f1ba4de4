// What an operator or the central side may ask of the site, as zod schemas
// shared by every channel (MQTT commands, HTTP actions, CLI): a budget lease,
// its end, the control mode, and an action on one device. Channels validate
// with these and hand the intent to the Site, which acts through the control
// loop; none of them calls a driver (docs/design.md, Rules between the parts). Powers and
// durations are taken as the config takes them (a number, or "250kW", "5m"),
// with the config's own field builders, so an operator never meets two syntaxes.
import { z } from "zod";
import { duration, power } from "../../config/schema/fields.ts";
import { DEFAULT_LOCATE_S } from "../../drivers/cgminer/locate.ts";
import type { AuditChannel } from "../store/audit.ts";

/** Longest lease: a week. A lease the central side forgets must still end. */
const MAX_LEASE_TTL_S = 7 * 24 * 3600;
/** Longest timed exclusion: 30 days (longer maintenance is an exclusion without an end). */
export const MAX_EXCLUDE_S = 30 * 24 * 3600;

export const BudgetSetSchema = z.strictObject({
  watts: power().describe('The budget cap: watts, or a string with a unit ("250kW", "1.2MW")'),
  ttlS: duration({ positive: true, max: MAX_LEASE_TTL_S }).describe(
    'The lease ends by itself after this: seconds, or a string with a unit ("300s", "5m", "2h")',
  ),
  reason: z.string().min(1).max(200).describe("Shown with the budget: 'DR event 4471', 'ERCOT 4CP'"),
});

export const BudgetClearSchema = z.strictObject({}).describe("Ends the lease in force");

export const ModeSetSchema = z.strictObject({
  mode: z.enum(["auto", "hold"]).describe("auto: the loop acts; hold: it plans but sends nothing"),
});

export const DEVICE_ACTIONS = [
  "sleep",
  "wake",
  "reboot",
  "set-power-limit",
  "locate",
  "exclude",
  "include",
] as const;
export type DeviceActionName = (typeof DEVICE_ACTIONS)[number];

/** A locate blinks this long unless told otherwise: long enough to walk down a row of racks. */
export const LOCATE_DEFAULT_S = DEFAULT_LOCATE_S;
/** Shortest and longest locate: under 10 s nobody finds the unit; over an hour it is forgotten on. */
export const LOCATE_MIN_S = 10;
export const LOCATE_MAX_S = 3600;

export const DeviceActionSchema = z
  .strictObject({
    id: z.string().min(1).max(128),
    action: z.enum(DEVICE_ACTIONS),
    /**
     * set-power-limit: watts or a power string like "3kW" (a GPU node: per GPU). locate: seconds
     * (as `seconds`). exclude: ignored.
     */
    value: power({ positive: true }).optional(),
    /** locate: how long the LED blinks, 10–3600 s or a duration ("5m"); 0 turns it off now. */
    seconds: duration({ max: LOCATE_MAX_S })
      .optional()
      .describe(`locate: blink this long (default ${LOCATE_DEFAULT_S} s); 0 = off now`),
    reason: z.string().max(200).optional(),
    /** exclude only: back in automatic control by itself after this (seconds, or "2h"). */
    untilS: duration({ positive: true, max: MAX_EXCLUDE_S }).optional(),
  })
  .superRefine((a, ctx) => {
    if (a.untilS !== undefined && a.action !== "exclude") {
      ctx.issues.push({
        code: "custom",
        path: ["untilS"],
        message: "untilS is for exclude only",
        input: a,
      });
    }
    if (a.action === "set-power-limit" && a.value === undefined) {
      ctx.issues.push({
        code: "custom",
        path: ["value"],
        message: "set-power-limit needs value (W)",
        input: a,
      });
    }
    if (a.seconds !== undefined && a.action !== "locate") {
      ctx.issues.push({ code: "custom", path: ["seconds"], message: "seconds is for locate only", input: a });
    }
    if (a.action === "locate") {
      if (a.seconds !== undefined && a.value !== undefined) {
        ctx.issues.push({
          code: "custom",
          path: ["value"],
          message: "locate takes seconds (value is its older name): give one, not both",
          input: a,
        });
      }
      const s = a.seconds ?? a.value;
      if (s !== undefined && s !== 0 && (s < LOCATE_MIN_S || s > LOCATE_MAX_S)) {
        ctx.issues.push({
          code: "custom",
          path: [a.seconds !== undefined ? "seconds" : "value"],
          message: `locate: 0 (off) or ${LOCATE_MIN_S}–${LOCATE_MAX_S} s, got ${s}`,
          input: a,
        });
      }
    }
  });
export type DeviceAction = z.infer<typeof DeviceActionSchema>;

/** How long a locate asks the LED to blink: `seconds`, else `value` (DESIGN's name), else the default; 0 = off. */
export function locateSeconds(a: Pick<DeviceAction, "seconds" | "value">): number {
  return Math.round(a.seconds ?? a.value ?? LOCATE_DEFAULT_S);
}

export const PingSchema = z.record(z.string(), z.unknown()).describe("Answers ok: a round-trip check");

/** Who asked, through what: recorded in the audit log and the events. */
export interface Actor {
  via: AuditChannel;
  /** Operator name, or the command's key name. */
  who: string;
  /** Command id or request id, when there is one. */
  ref?: string | null;
}

export type IntentResult = { ok: true; detail?: string } | { ok: false; error: string };
