// The reply shapes the auradine dialect expects from FluxOS (docs/research.md
// §2, Auradine FluxOS), as zod schemas, and the error a reply that does not fit
// them becomes: WK_FIRMWARE_CHANGED, naming the firmware, its version and what
// changed. Objects are not strict (a firmware that adds fields is fine); a
// field gone or of another type is drift and is reported, never guessed at.
//
// Documented variants are accepted, nothing more: `Mode[0].Sleep` as "on"/"off"
// or as a boolean, wattages as "3412.50W" strings or as numbers (both seen by
// asic-rs), `ChipTemp` null on the control board row.
import { z } from "zod";
import { DriverError } from "../../../types.ts";

export const FIRMWARE_CHANGED = "WK_FIRMWARE_CHANGED";

/** STATUS[0] of every FluxOS reply (web API and 4028 alike). */
export const StatusRow = z.object({
  STATUS: z.string(),
  Code: z.number().optional(),
  Msg: z.string().optional(),
  Description: z.string().optional(),
  When: z.number().optional(),
});
export type StatusRow = z.infer<typeof StatusRow>;

export const StatusReply = z.object({ STATUS: z.array(StatusRow).min(1) });

/** "3412.50W", " 58.94 W" or a number → watts. */
export const Watts = z.union([
  z.number(),
  z
    .string()
    .regex(/^\s*\d+(\.\d+)?\s*W\s*$/i, 'expected a wattage like "3412.50W"')
    .transform((s) => Number.parseFloat(s)),
]);

/** GET /led → LED[0].Code: 3 locates the unit, 2 is normal (pyasic AuradineLEDCodes). */
export const LedReply = z.object({ LED: z.array(z.object({ Code: z.number() })).min(1) });
export const LED_LOCATE = 3;
export const LED_NORMAL = 2;

/** POST /token → Token[0].Token. */
export const TokenReply = z.object({ Token: z.array(z.object({ Token: z.string().min(1) })).min(1) });

/** GET /mode: operating mode, sleep on/off, the custom power target. */
export const ModeReply = z.object({
  STATUS: z.array(StatusRow).min(1),
  Mode: z
    .array(
      z.object({
        Mode: z.string(),
        Sleep: z.union([z.enum(["on", "off"]), z.boolean()]),
        Power: z.number().nullable().optional(),
        Ths: z.number().nullable().optional(),
      }),
    )
    .min(1),
});
export type ModeReply = z.infer<typeof ModeReply>;

/** GET /psu: PowerIn is the wall draw; PoutMax the PSU's rated output. */
export const PsuReply = z.object({
  STATUS: z.array(StatusRow).min(1),
  PSU: z.array(z.object({ PowerIn: Watts, PoutMax: Watts.optional() })).min(1),
});

/** GET /ipreport: model and firmware version. */
export const IpReport = z.object({
  STATUS: z.array(StatusRow).min(1),
  IPReport: z.array(z.object({ model: z.string(), version: z.string() })).min(1),
});

/** GET /fan. */
export const FanReply = z.object({
  STATUS: z.array(StatusRow).min(1),
  Fan: z.array(z.object({ ID: z.number(), Speed: z.number() })),
});

const TempPoint = z.object({ ID: z.number(), Temperature: z.number() });
/** GET /temperature: one row per board; the control board has no chips. */
export const TemperatureReply = z.object({
  STATUS: z.array(StatusRow).min(1),
  Temperature: z.array(
    z.object({
      ID: z.number(),
      Name: z.string(),
      BoardTemp: z.array(TempPoint).nullable(),
      ChipTemp: z.array(TempPoint).nullable(),
    }),
  ),
});

// --- the CGMiner-compatible API on 4028 (GCMiner) -----------------------------

export const SummarySection = z.object({
  SUMMARY: z.array(z.object({ "MHS 5s": z.number(), Elapsed: z.number() })).min(1),
});
export const PoolsSection = z.object({
  POOLS: z.array(z.object({ URL: z.string(), User: z.string(), Status: z.string() })),
});
export const DevsSection = z.object({
  DEVS: z.array(
    z.object({
      ID: z.number(),
      "MHS 5s": z.number(),
      Temperature: z.number(),
      Enabled: z.boolean(),
      Status: z.string(),
    }),
  ),
});

/** The firmware version a STATUS Description carries: "FluxOS-2023-12.27-9bf0…" → "2023-12.27", "2.2.0" as is. */
export function versionOfDescription(description: string | undefined): string | null {
  if (!description) return null;
  const m = /^(?:FluxOS|GCMiner)-(\d{4}-\d{2}\.\d{2}|[\d.]+)/i.exec(description.trim());
  if (m) return m[1]!;
  return /^\d+(\.\d+)+$/.test(description.trim()) ? description.trim() : null;
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.length > 0 ? i.path.join(".") : "reply"}: ${i.message}`)
    .join("; ");
}

export interface DriftContext {
  /** What was asked ("GET /mode", "4028 summary"). */
  what: string;
  /** The firmware version known for this unit, if any. */
  version: string | null;
}

/** WK_FIRMWARE_CHANGED for a reply that is not what FluxOS is known to send. */
export function firmwareChanged(ctx: DriftContext, change: string): DriverError {
  return new DriverError(
    FIRMWARE_CHANGED,
    `FluxOS ${ctx.version ?? "(version unknown)"}: ${ctx.what}: ${change}; the auradine dialect does not guess at it`,
    false,
  );
}

/** Parses `value` with `schema`; a mismatch is WK_FIRMWARE_CHANGED naming the fields. */
export function expectShape<S extends z.ZodType>(schema: S, value: unknown, ctx: DriftContext): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  // the reply's own version first: drift comes with upgrades, and the remembered version is the old one
  const version = versionOfDescription(statusOf(value)?.Description) ?? ctx.version;
  throw firmwareChanged({ ...ctx, version }, `reply shape changed (${describeIssues(r.error)})`);
}

/** STATUS[0] of a reply when it has one that fits, else null. */
export function statusOf(value: unknown): StatusRow | null {
  const r = StatusReply.safeParse(value);
  return r.success ? r.data.STATUS[0]! : null;
}

/** Whether a STATUS letter is a success (S) or information (I). */
export const statusOk = (s: StatusRow) => s.STATUS === "S" || s.STATUS === "I";

/** Sleep mode from Mode[0].Sleep in either documented form. */
export function sleepOn(sleep: "on" | "off" | boolean): boolean {
  return sleep === true || sleep === "on";
}
