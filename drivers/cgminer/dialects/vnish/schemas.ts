// VNish web API replies (`/api/v1/*`), validated with zod, and the pure parsing
// around them (docs/research.md, VNish). A reply shaped differently from what
// the dialect knows — a field gone, a number turned string, a state word never
// seen — is a WK_FIRMWARE_CHANGED error naming the firmware, its version, the
// endpoint, the field and what came instead: the miner is then reported as
// faulted with that reason, never read by guesswork.
//
// Documented variants that are accepted: the draw as `power_consumption`
// (asic-rs's 1.2/1.3 backends) or `power_usage` (pyasic; 1.2.6 sends both);
// the preset list as a bare array (the 1.2.6 API reference) or wrapped in
// `{presets: […]}` (what pyasic reads); `hr_measure` absent or "N/A" = GH/s
// (asic-rs's fallback for SHA-256 units).
import { z } from "zod";
import { printable } from "../../../printable.ts";
import { DriverError, type MinerState } from "../../../types.ts";

export const FIRMWARE_CHANGED = "WK_FIRMWARE_CHANGED";

/** A reply that does not have the shape the dialect expects. Not retryable: the next read gets the same. */
export function firmwareChanged(fw: string, what: string): DriverError {
  return new DriverError(FIRMWARE_CHANGED, `${fw}: ${printable(what)}`, false);
}

function describe(v: unknown): string {
  if (v === undefined) return "nothing (field gone)";
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "string") return `string "${v.length > 24 ? `${v.slice(0, 24)}…` : v}"`;
  return typeof v;
}

function at(data: unknown, path: readonly PropertyKey[]): unknown {
  let v = data;
  for (const k of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

/** Validates `data` against `schema`; a mismatch is WK_FIRMWARE_CHANGED naming the first field that differs. */
export function parseReply<T>(
  schema: z.ZodType<T>,
  data: unknown,
  { fw, endpoint }: { fw: string; endpoint: string },
): T {
  const r = schema.safeParse(data);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const field = issue.path.map(String).join(".") || "(reply)";
  const got = describe(at(data, issue.path));
  const expected =
    issue.code === "invalid_type"
      ? `expected ${issue.expected}`
      : issue.message.replace(/^Invalid input: /, "");
  throw firmwareChanged(fw, `${endpoint} ${field}: ${expected}, got ${got}`);
}

// --- /api/v1/info (no login) --------------------------------------------------------------

export const InfoSchema = z.object({
  miner: z.string(),
  fw_name: z.string().optional(),
  fw_version: z.string().min(1),
  build_name: z.string().optional(),
  hr_measure: z.string().optional(),
  system: z.object({ uptime: z.string() }),
});
export type VnishInfo = z.infer<typeof InfoSchema>;

/** Whether an /info reply is VNish's own (fw_name "Vnish", build "vnishnet", AnthillOS). */
export function isVnishInfo(info: VnishInfo): boolean {
  return /vnish|anthill/i.test(`${info.fw_name ?? ""} ${info.build_name ?? ""}`);
}

/** TH/s per unit of the summary's hashrates, from /info's hr_measure. Null: a unit we do not know. */
export function thsPerUnit(hrMeasure: string | undefined): number | null {
  const m = (hrMeasure ?? "").trim().toUpperCase();
  if (m === "" || m === "N/A" || m === "GH/S") return 1e-3;
  if (m === "TH/S") return 1;
  if (m === "MH/S") return 1e-6;
  return null;
}

/**
 * /info's system.uptime: "0:06" (H:MM), "10 days, 18:00", "1 day, 5 min" (the
 * forms busybox `uptime` prints). Null for anything else.
 */
export function parseUptimeS(text: string): number | null {
  const s = text.trim().replace(/^up\s+/i, "");
  const m = /^(?:(\d+)\s+days?,?\s*)?(?:(\d+):(\d{2})|(\d+)\s+min)?$/i.exec(s);
  if (!m || s === "" || (m[2] === undefined && m[4] === undefined && m[1] === undefined)) return null;
  const days = Number(m[1] ?? 0);
  const hours = Number(m[2] ?? 0);
  const minutes = Number(m[3] ?? m[4] ?? 0);
  if (minutes >= 60 && m[3] !== undefined) return null;
  return ((days * 24 + hours) * 60 + minutes) * 60;
}

// --- /api/v1/summary (login) ----------------------------------------------------------------

const TempRange = z.object({ min: z.number().nullable(), max: z.number().nullable() });

export const SummarySchema = z.object({
  miner: z
    .object({
      miner_status: z.object({ miner_state: z.string(), description: z.string().nullish() }),
      miner_type: z.string(),
      hr_realtime: z.number(),
      power_consumption: z.number().optional(),
      power_usage: z.number().optional(),
      chains: z.array(
        z.object({
          id: z.number(),
          pcb_temp: TempRange,
          chip_temp: TempRange,
          status: z.object({ state: z.string(), description: z.string().nullish() }).optional(),
        }),
      ),
      cooling: z.object({ fans: z.array(z.object({ rpm: z.number().nullable() })) }),
      pools: z.array(
        z.object({
          url: z.string(),
          user: z.string(),
          status: z.string(),
          pool_type: z.string().optional(),
        }),
      ),
    })
    .refine((m) => m.power_consumption !== undefined || m.power_usage !== undefined, {
      message: "expected power_consumption or power_usage (a number)",
      path: ["power_consumption"],
    }),
});
export type VnishSummary = z.infer<typeof SummarySchema>;

/** The unit's draw: power_consumption where sent, else power_usage (the schema ensures one). */
export function drawW(s: VnishSummary): number {
  return s.miner.power_consumption ?? s.miner.power_usage ?? 0;
}

/**
 * `miner_state` words and what they mean here. `paused` (mining/pause) and
 * `stopped` (mining/stop) both leave the boards idle; `shutting-down` is on the
 * way there. An unknown word is a firmware change, not a guess.
 */
const STATES: Record<string, MinerState> = {
  mining: "hashing",
  running: "hashing",
  "auto-tuning": "hashing",
  auto_tuning: "hashing",
  tuning: "hashing",
  paused: "sleeping",
  stopped: "sleeping",
  idle: "sleeping",
  "shutting-down": "sleeping",
  starting: "starting",
  initializing: "starting",
  restarting: "starting",
  failure: "faulted",
  failed: "faulted",
  broken: "faulted",
  error: "faulted",
};

export function stateOf(minerState: string, fw: string, endpoint: string): MinerState {
  const s = STATES[minerState.trim().toLowerCase()];
  if (s) return s;
  throw firmwareChanged(fw, `${endpoint} miner_state: unknown state "${minerState}"`);
}

/** VNish pool status words onto the Alive/Dead vocabulary the site's pool checks read. */
export function poolStatus(status: string): string {
  const s = status.trim().toLowerCase();
  if (s === "working" || s === "active" || s === "alive") return "Alive";
  if (s === "offline" || s === "dead") return "Dead";
  if (s === "disabled") return "Disabled";
  return status;
}

// --- /api/v1/perf-summary (no login) --------------------------------------------------------

const PresetSchema = z.object({
  name: z.string(),
  pretty: z.string().optional(),
  status: z.string().optional(),
  modded_psu_required: z.boolean().optional(),
});
export type VnishPreset = z.infer<typeof PresetSchema>;

export const PerfSummarySchema = z.object({ current_preset: PresetSchema.nullish() });

// --- /api/v1/autotune/presets (login) -------------------------------------------------------

const PresetList = z.array(PresetSchema);
const WrappedPresets = z.object({ presets: PresetList });

/** The preset list, bare (1.2.6) or wrapped in {presets} (as pyasic reads it). */
export function parsePresets(data: unknown, fw: string): VnishPreset[] {
  const endpoint = "/api/v1/autotune/presets";
  if (Array.isArray(data)) return parseReply(PresetList, data, { fw, endpoint });
  return parseReply(WrappedPresets, data, { fw, endpoint }).presets;
}

/** A preset's wattage: its name when the name is a number of watts ("3250"); "disabled" and the like are not steps. */
export function presetWatts(p: VnishPreset): number | null {
  if (!/^\s*\d{2,5}\s*$/.test(p.name)) return null;
  const w = Number(p.name);
  return w > 0 ? w : null;
}

export interface PowerStep {
  name: string;
  watts: number;
}

/**
 * The presets usable as power steps, lowest first. A preset that needs a
 * modified PSU is left out: the agent cannot know the unit has one.
 */
export function powerSteps(presets: VnishPreset[]): PowerStep[] {
  const out: PowerStep[] = [];
  for (const p of presets) {
    const watts = presetWatts(p);
    if (watts !== null && p.modded_psu_required !== true) out.push({ name: p.name.trim(), watts });
  }
  return out.sort((a, b) => a.watts - b.watts);
}

/** The highest step at or below the target, or null when every step is above it. */
export function pickStep(steps: readonly PowerStep[], targetW: number): PowerStep | null {
  let best: PowerStep | null = null;
  for (const s of steps) if (s.watts <= targetW && (!best || s.watts > best.watts)) best = s;
  return best;
}

// --- writes ---------------------------------------------------------------------------------

/**
 * /api/v1/status (no login): the state the wake path reads to pick resume or start, and
 * `find_miner`, whether the locate LED blinks (absent on a firmware that does not say).
 */
export const StatusSchema = z.object({ miner_state: z.string(), find_miner: z.boolean().optional() });

/** POST /api/v1/settings answers {restart_required, reboot_required} (pyasic: even when nothing changed). */
export const SaveSettingsSchema = z.object({
  restart_required: z.boolean().optional(),
  reboot_required: z.boolean().optional(),
});

/** The `err` text VNish puts in a refusal ({"err":"CGMiner err: …"}), when there is one. */
export function errText(json: unknown): string | null {
  if (json && typeof json === "object" && !Array.isArray(json)) {
    const e = (json as Record<string, unknown>).err;
    if (typeof e === "string" && e.trim() !== "") return printable(e.trim());
  }
  return null;
}
