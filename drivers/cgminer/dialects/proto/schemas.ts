// The MDK API (Proto rig REST API, OpenAPI 1.8.x) replies this dialect reads,
// as zod schemas. Only the fields wattkeeper uses are checked, and those
// strictly: a field gone or of another type is firmware drift, reported as
// WK_FIRMWARE_CHANGED with the firmware version and what changed, never guessed
// around. Fields the spec marks optional and the dialect can do without stay
// optional here; extra fields are ignored (a newer firmware may add some).
import { z } from "zod";
import { printable } from "../../../printable.ts";
import { DriverError } from "../../../types.ts";

const Sw = z.object({ name: z.string().optional(), version: z.string().optional() }).optional();

/** GET /api/v1/system (no auth): the control board, its OS and software. */
export const SystemInfoSchema = z.object({
  "system-info": z.object({
    product_name: z.string().optional(),
    manufacturer: z.string().optional(),
    model: z.string().optional(),
    os: z.object({ name: z.string().optional(), version: z.string() }),
    mining_driver_sw: Sw,
    uptime_seconds: z.number().optional(),
    cb_sn: z.string().optional(),
  }),
});
export type SystemInfo = z.infer<typeof SystemInfoSchema>["system-info"];

/** MiningStatus_miningstatus.status values of MDK API 1.8. */
export const MINING_STATUSES = [
  "Uninitialized",
  "PoweringOn",
  "Mining",
  "DegradedMining",
  "PoweringOff",
  "Stopped",
  "Curtailed",
  "NoPools",
  "Error",
] as const;

/** GET /api/v1/mining: state, draw, power target, uptimes. */
export const MiningStatusSchema = z.object({
  "mining-status": z.object({
    status: z.enum(MINING_STATUSES),
    power_usage_watts: z.number(),
    power_target_watts: z.number(),
    reboot_uptime_s: z.number().optional(),
    mining_uptime_s: z.number().optional(),
    average_hashrate_ghs: z.number().optional(),
    average_asic_temp_c: z.number().optional(),
    average_hb_temp_c: z.number().nullable().optional(),
    hashboards_installed: z.number().optional(),
    hashboards_mining: z.number().optional(),
  }),
});
export type MiningStatus = z.infer<typeof MiningStatusSchema>["mining-status"];

/** GET /api/v1/mining/target and the reply to PUT: the target and the range the rig takes. */
export const MiningTargetSchema = z.object({
  power_target_watts: z.number(),
  power_target_min_watts: z.number(),
  power_target_max_watts: z.number(),
  default_power_target_watts: z.number().optional(),
  performance_mode: z.string().optional(),
});
export type MiningTarget = z.infer<typeof MiningTargetSchema>;

const Metric = (unit: string) => z.object({ value: z.number(), unit: z.literal(unit) });

/** GET /api/v1/telemetry?level=miner,hashboard,asic: current hashrate and temperatures. */
export const TelemetrySchema = z.object({
  miner: z.object({ hashrate: Metric("TH/s"), power: Metric("W") }),
  hashboards: z
    .array(
      z.object({
        index: z.number(),
        temperature: z.object({ average: z.number(), outlet: z.number().optional() }),
        asics: z.object({ temperature: z.object({ values: z.array(z.number()) }) }).optional(),
      }),
    )
    .optional(),
});

/** GET /api/v1/cooling: fan speeds. */
export const CoolingSchema = z.object({
  "cooling-status": z.object({
    fans: z.array(z.object({ slot: z.number().optional(), rpm: z.number().optional() })).optional(),
  }),
});

/** GET /api/v1/pools. */
export const PoolsSchema = z.object({
  pools: z.array(
    z.object({
      id: z.number().optional(),
      url: z.string().optional(),
      user: z.string().optional(),
      status: z.string().optional(),
    }),
  ),
});

/** POST /api/v1/auth/login → AuthTokens. */
export const AuthTokensSchema = z.object({
  access_token: z.string().min(1),
  refresh_token: z.string().optional(),
});

/** MessageResponse ({message}) or the `{error: {code, message}}` some firmware sends with a 403. */
export function messageOf(json: unknown): string | null {
  if (typeof json !== "object" || json === null) return null;
  const o = json as { message?: unknown; error?: unknown };
  if (typeof o.message === "string" && o.message !== "") return printable(o.message.slice(0, 200));
  if (typeof o.error === "string" && o.error !== "") return printable(o.error.slice(0, 200));
  if (typeof o.error === "object" && o.error !== null) {
    const e = o.error as { message?: unknown; code?: unknown };
    const parts = [e.code, e.message].filter((x): x is string => typeof x === "string" && x !== "");
    if (parts.length > 0) return printable(parts.join(": ").slice(0, 200));
  }
  return null;
}

/** "proto 1.8.2" or "proto (version unknown)": how drift errors name the firmware. */
function firmwareLabel(version: string | null): string {
  return version ? `proto ${printable(version)}` : "proto (version unknown)";
}

export function firmwareChanged(version: string | null, what: string): DriverError {
  return new DriverError(
    "WK_FIRMWARE_CHANGED",
    `firmware-changed: ${firmwareLabel(version)}: ${what} (MDK API 1.8 expected)`,
    false,
  );
}

/** Parses a reply with `schema`; anything else is firmware drift, naming the fields that changed. */
export function parseReply<S extends z.ZodType>(
  schema: S,
  json: unknown,
  { where, version }: { where: string; version: string | null },
): z.infer<S> {
  const r = schema.safeParse(json);
  if (r.success) return r.data;
  const issues = r.error.issues
    .slice(0, 3)
    .map((i) => `${i.path.map(String).join(".") || "(reply)"}: ${i.message}`)
    .join("; ");
  throw firmwareChanged(version, `${where} reply changed shape: ${printable(issues)}`);
}
