// The one schema for a site config file. It is the source of the TypeScript
// types (z.infer), the defaults, the JSON Schema (npm run schema) and the
// reference in docs/config.md, so the four cannot drift apart. Every object is
// strict: an unknown key is an error, because a typo (shedMargin for
// shedMarginW) would otherwise fall back to a default without anyone noticing.
// Checks that span sections (duplicate ids, margins against each other, files
// on disk) live in load.ts, which reports them with the user's own paths.
//
// This module assembles the file's schema from the section schemas under
// schema/ and derives the config types from it; it re-exports the sections and
// field builders so that importers need only this path.
import { z } from "zod";
import { type KnownModel, MinerModelSchema } from "../drivers/cgminer/models.ts";
import type { MeterProfile } from "../drivers/modbus/profile.ts";
import { ControlSchema, type ScheduleWindowSchema } from "./schema/control.ts";
import { GpuNodeSchema, MinerEntrySchema } from "./schema/devices.ts";
import { ExportsSchema } from "./schema/exports.ts";
import { optNull } from "./schema/fields.ts";
import { MeterEntrySchema } from "./schema/meters.ts";
import { MqttSchema } from "./schema/mqtt.ts";
import { SignalsSchema } from "./schema/signals.ts";
import { HttpSchema, LogSchema, PollingSchema, SimSchema, SiteSchema, StoreSchema } from "./schema/site.ts";

export type { ModbusTarget } from "./schema/meters.ts";
export { BrokerUrlSchema, type Deadband, MqttSchema, TelemetrySchema } from "./schema/mqtt.ts";

export { DEFAULT_MINER_DETAIL_POLLS } from "./schema/site.ts";

// ---------------------------------------------------------------- the file

export const ConfigSchema = z
  .strictObject({
    site: SiteSchema,
    mqtt: optNull(MqttSchema),
    http: HttpSchema.prefault({}),
    store: StoreSchema.prefault({}),
    meters: z.array(MeterEntrySchema).default([]).describe("Modbus power meters"),
    miners: z.array(MinerEntrySchema).default([]).describe("ASIC miners (CGMiner-style API)"),
    gpuNodes: z.array(GpuNodeSchema).default([]).describe("AI GPU nodes"),
    models: z
      .array(MinerModelSchema)
      .default([])
      .describe(
        "This site's own miner models, beside config/models/*.yaml: a model claiming a shipped model's name overrides it",
      ),
    control: ControlSchema.prefault({}),
    polling: PollingSchema.prefault({}),
    signals: optNull(SignalsSchema),
    exports: optNull(ExportsSchema),
    sim: optNull(SimSchema),
    log: LogSchema.prefault({}),
  })
  .describe("wattkeeper site configuration");

/** Sections that are lists of entries; the loader checks each entry on its own. */
export const LIST_SECTIONS = {
  meters: MeterEntrySchema,
  miners: MinerEntrySchema,
  gpuNodes: GpuNodeSchema,
} as const;

// ---------------------------------------------------------------- types

/** The schema's output: units in watts and seconds, defaults applied, not yet expanded. */
export type ParsedConfig = z.output<typeof ConfigSchema>;

type SecretValues<T> = { [K in keyof T as K extends `${infer B}File` ? B : never]: string | null };
/**
 * T with every `fooFile` key (kept, as an absolute path) joined by `foo`: the file's
 * content, or the WATTKEEPER_* environment variable that overrides it.
 */
type WithSecrets<T> = T extends readonly (infer U)[]
  ? WithSecrets<U>[]
  : T extends object
    ? { [K in keyof T]: WithSecrets<T[K]> } & SecretValues<T>
    : T;

export type MinerEntry = z.output<typeof MinerEntrySchema>;
export type MeterEntry = z.output<typeof MeterEntrySchema>;

/** One miner after expansion. source names the config entry it came from, e.g. "miners[0]". */
export type MinerConfig = Omit<MinerEntry, "host" | "hosts" | "id" | "idPrefix" | "credentials"> & {
  id: string;
  host: string;
  credentials: WithSecrets<NonNullable<MinerEntry["credentials"]>> | null;
  source: string;
};
export type MeterConfig = Omit<MeterEntry, "profile" | "registers" | "maxGap"> & { profile: MeterProfile };
export type GpuNodeConfig = WithSecrets<z.output<typeof GpuNodeSchema>>;
export type MqttConfig = WithSecrets<z.output<typeof MqttSchema>>;
export type TelemetryConfig = MqttConfig["telemetry"];
/** The http section with its TLS files read (`tls.cert`, `tls.key`: PEM text). */
export type HttpConfig = WithSecrets<ParsedConfig["http"]>;
export type ControlConfig = Omit<ParsedConfig["control"], "failsafeBudgetW"> & { failsafeBudgetW: number };
export type ScheduleWindow = z.output<typeof ScheduleWindowSchema>;

/** The resolved config loadConfig returns. */
/** The signals section with its secrets read (the second broker's password). */
export type SignalsConfig = WithSecrets<NonNullable<ParsedConfig["signals"]>>;
/** The exports section with its secrets read (a SCADA broker's password). */
type ExportsConfig = WithSecrets<NonNullable<ParsedConfig["exports"]>>;
export type SparkplugConfig = NonNullable<ExportsConfig["sparkplug"]>;
export type HomeAssistantConfig = NonNullable<ExportsConfig["homeAssistant"]>;

export type SiteConfig = Omit<
  ParsedConfig,
  | "site"
  | "miners"
  | "meters"
  | "gpuNodes"
  | "control"
  | "mqtt"
  | "store"
  | "signals"
  | "exports"
  | "models"
  | "http"
> & {
  http: HttpConfig;
  /** The site's own models (first: they override), then the shipped config/models/*.yaml. */
  models: readonly KnownModel[];
  signals: SignalsConfig | null;
  exports: ExportsConfig | null;
  /** Absolute path of the config file. */
  file: string;
  site: Omit<ParsedConfig["site"], "name"> & { name: string };
  mqtt: MqttConfig | null;
  store: { path: string };
  meters: MeterConfig[];
  miners: MinerConfig[];
  gpuNodes: GpuNodeConfig[];
  control: ControlConfig;
};
