// What an operator or the central side may ask of the site, as zod schemas
// shared by every channel (MQTT commands, HTTP actions, CLI): a budget lease,
// its end, the control mode, and an action on one device. Channels validate
// with these and hand the intent to the Site, which acts through the control
// loop; none of them calls a driver (DESIGN: Dependency rules).
import { z } from "zod";
import type { AuditChannel } from "../store/audit.ts";

/** Longest lease: a week. A lease the central side forgets must still end. */
export const MAX_LEASE_TTL_S = 7 * 24 * 3600;

export const BudgetSetSchema = z.strictObject({
  watts: z.number().finite().min(0).describe("The budget cap, W"),
  ttlS: z.number().finite().positive().max(MAX_LEASE_TTL_S).describe("The lease ends by itself after this"),
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
    /** set-power-limit: watts (a GPU node: per GPU). exclude: ignored. */
    value: z.number().finite().positive().optional(),
    reason: z.string().max(200).optional(),
  })
  .superRefine((a, ctx) => {
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
