// What an operator or the central side may ask of the site, as zod schemas
// shared by every channel (MQTT commands, HTTP actions, CLI): a budget lease,
// its end, the control mode, and an action on one device. Channels validate
// with these and hand the intent to the Site, which acts through the control
// loop; none of them calls a driver (docs/design.md, Rules between the parts). Powers and
// durations are taken as the config takes them (a number, or "250kW", "5m"),
// with the config's own field builders, so an operator never meets two syntaxes.
import { z } from "zod";
import { duration, power } from "../../config/schema/fields.ts";
import type { AuditChannel } from "../store/audit.ts";

/** Longest lease: a week. A lease the central side forgets must still end. */
export const MAX_LEASE_TTL_S = 7 * 24 * 3600;
/** Longest timed exclusion: 30 days (longer maintenance is an exclusion without an end). */
export const MAX_EXCLUDE_S = 30 * 24 * 3600;

export const BudgetSetSchema = z.strictObject({
  watts: power().describe('The budget cap: watts, or a string with a unit ("250kW", "1.2MW")'),
  ttlS: duration({ positive: true, max: MAX_LEASE_TTL_S }).describe(
    'The lease ends by itself after this: seconds, or a string with a unit ("300s", "5m", "2h")',
  ),
  reason: z.string().min(1).max(200).describe("Shown with the budget: 'DR event 4471', 'ERCOT 4CP'"),
});
export type BudgetSet = z.infer<typeof BudgetSetSchema>;

export const BudgetClearSchema = z.strictObject({}).describe("Ends the lease in force");

export const ModeSetSchema = z.strictObject({
  mode: z.enum(["auto", "hold"]).describe("auto: the loop acts; hold: it plans but sends nothing"),
});
export type ModeSet = z.infer<typeof ModeSetSchema>;

export const DEVICE_ACTIONS = ["sleep", "wake", "reboot", "set-power-limit", "exclude", "include"] as const;
export type DeviceActionName = (typeof DEVICE_ACTIONS)[number];

export const DeviceActionSchema = z
  .strictObject({
    id: z.string().min(1).max(128),
    action: z.enum(DEVICE_ACTIONS),
    /** set-power-limit: watts or a power string like "3kW" (a GPU node: per GPU). exclude: ignored. */
    value: power({ positive: true }).optional(),
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
  });
export type DeviceAction = z.infer<typeof DeviceActionSchema>;

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
