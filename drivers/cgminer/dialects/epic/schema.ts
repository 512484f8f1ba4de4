// What the ePIC UMC HTTP API (on the CGMiner API port, 4028) is expected to
// answer, as zod schemas: only the fields the dialect reads, each with the type
// the vendor's OpenAPI documents (UMC API 1.22.5 and 1.30.0). A reply that does
// not match (a field gone, a type changed, an unknown operating state) is not
// guessed at: `parseEpic` throws WK_FIRMWARE_CHANGED naming the firmware, its
// version and what changed (docs/research.md §2, ePIC UMC).
import { z } from "zod";
import { printable } from "../../../printable.ts";
import { DriverError } from "../../../types.ts";

/** `Status."Operating State"` values of UMC 1.22.5 and 1.30.0 (MinerState). */
const OPERATING_STATES = [
  "AdjustingClockVoltage",
  "Idling",
  "Initializing",
  "Loading",
  "Mining",
  "PreInitCooldown",
  "Rebooting",
  "SoftRebooting",
  "Stopping",
  "Testing",
  "UpdatingFirmware",
] as const;
export type OperatingState = (typeof OPERATING_STATES)[number];

/**
 * An ApiError or MinerError. UMC 1.30.0 sends a variant without data as its bare
 * name ("BadPassword") and one with data as {"Variant": data}; 1.22.5 documents
 * every variant as {"Variant": "text"} ({"BadPassword": "Authentication failed"}).
 */
const EpicErrorSchema = z.union([z.string(), z.record(z.string(), z.unknown())]);
export type EpicError = z.infer<typeof EpicErrorSchema>;

/** The variant name of an ApiError/MinerError in either form ("BadPassword"). */
export function errorName(e: EpicError): string {
  return typeof e === "string" ? e : (Object.keys(e)[0] ?? "UnknownError");
}

/** An ApiError/MinerError as one line: "BadPassword" or "ShutdownTempReached: [1,86.5]". */
export function describeEpicError(e: EpicError): string {
  if (typeof e === "string") return printable(e);
  const name = errorName(e);
  const detail = e[name];
  if (detail === undefined || detail === null) return printable(name);
  const text = typeof detail === "string" ? detail : JSON.stringify(detail);
  return printable(`${name}: ${text.length > 120 ? `${text.slice(0, 120)}…` : text}`);
}

const AlgorithmStatsSchema = z.object({ Target: z.number(), Unit: z.string() });

/** GET /summary: the fields read. */
export const SummarySchema = z.object({
  Software: z.string(),
  Status: z.object({
    "Operating State": z.enum(OPERATING_STATES),
    "Last Error": EpicErrorSchema.nullable().optional(),
  }),
  "Power Supply Stats": z.object({ "Input Power": z.number() }),
  // the OpenAPI requires HBs; pyasic guards against null (seen while the boards are off)
  HBs: z
    .array(
      z.object({
        Index: z.number().int().nonnegative(),
        // [MH/s, % of ideal, …]
        Hashrate: z.array(z.number()).min(1),
        Temperature: z.number().nullable().optional(),
      }),
    )
    .nullable(),
  "Fans Rpm": z.record(z.string(), z.number().nullable()),
  Session: z.object({ Uptime: z.number() }),
  Stratum: z.object({
    "Config Id": z.number().int().nonnegative(),
    "Current Pool": z.string(),
    "Current User": z.string(),
    IsPoolConnected: z.boolean(),
  }),
  StratumConfigs: z.array(z.object({ pool: z.string(), login: z.string() })),
  PerpetualTune: z.object({
    Running: z.boolean(),
    Algorithm: z.record(z.string(), AlgorithmStatsSchema),
  }),
  // required in the OpenAPI (1.22.5, 1.30.0); optional here so a unit without it still reads
  Misc: z.object({ "Locate Miner State": z.boolean().optional() }).optional(),
});
export type EpicSummary = z.infer<typeof SummarySchema>;

/** GET /capabilities: the model and the tuner's algorithms with their target ranges. */
export const CapabilitiesSchema = z.object({
  Model: z.string(),
  PerpetualTune: z.array(z.object({ algorithm: z.string(), min: z.number(), max: z.number() })),
});
export type EpicCapabilities = z.infer<typeof CapabilitiesSchema>;

/** GET /temps/chip: per board, every chip's temperature (0 = no reading). */
export const ChipTempsSchema = z.array(z.object({ Index: z.number().int(), Data: z.array(z.number()) }));

/** Every POST's answer (JsonResponse), and a GET that cannot give its data. */
export const ResultSchema = z.object({
  result: z.boolean(),
  error: EpicErrorSchema.nullable().optional(),
});

/** The tuner algorithm that takes a target in watts. */
export const POWER_ALGORITHM = "Power";

/** "PowerPlay-BMS v1.5.13" → "1.5.13"; null when no version can be seen. */
export function versionOf(software: string): string | null {
  const m = /\bv?(\d+(?:\.\d+)+(?:[-+][\w.]+)?)\s*$/.exec(software.trim());
  return m ? m[1]! : null;
}

/** The reading's firmware field: "epic 1.5.13" (or "epic <Software>" when it carries no version). */
export function firmwareLabel(software: string): string {
  return `epic ${versionOf(software) ?? printable(software.trim()).slice(0, 60)}`;
}

/** Who answered, for a WK_FIRMWARE_CHANGED message, from any reply that carries `Software`. */
export function describeFirmware(software: string | null): string {
  if (software === null) return "ePIC firmware (version unknown)";
  const version = versionOf(software);
  return `ePIC firmware "${printable(software).slice(0, 60)}" (version ${version ?? "unknown"})`;
}

/** "Power Supply Stats"."Input Power": expected number, received string. */
function describeIssues(error: z.ZodError, max = 3): string {
  const parts = error.issues.slice(0, max).map((i) => {
    const where = i.path.length > 0 ? i.path.map((p) => JSON.stringify(String(p))).join(".") : "reply";
    return `${where}: ${i.message}`;
  });
  const more = error.issues.length > max ? ` (+${error.issues.length - max} more)` : "";
  return printable(parts.join("; ") + more);
}

export function firmwareChanged(firmware: string, what: string, detail: string): DriverError {
  return new DriverError(
    "WK_FIRMWARE_CHANGED",
    `${firmware}: ${what} is not what the epic dialect knows: ${detail}`,
    false,
  );
}

/**
 * Validates a reply; throws WK_FIRMWARE_CHANGED naming the firmware (taken from
 * this reply's `Software`, else `software`) and what changed.
 */
export function parseEpic<T extends z.ZodType>(
  schema: T,
  json: unknown,
  { what, software = null }: { what: string; software?: string | null },
): z.infer<T> {
  const parsed = schema.safeParse(json);
  if (parsed.success) return parsed.data;
  const own =
    json !== null && typeof json === "object" && typeof (json as { Software?: unknown }).Software === "string"
      ? (json as { Software: string }).Software
      : software;
  throw firmwareChanged(describeFirmware(own), what, describeIssues(parsed.error));
}
