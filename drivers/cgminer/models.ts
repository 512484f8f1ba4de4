// Miner models as data (config/models/*.yaml, or a site's own `models:`): per
// model its nameplate (power, hashrate), the power-limit range it takes, its
// lowest sleep draw, its stock low-power draw where it has one, its wake-up
// time, where known the temperatures from which it is hot, and the names
// firmware reports for it.
// The schema lives here because drivers use it (config/ composes it, drivers/
// own it); the data reaches a driver through its endpoint (`models`), so no
// driver reads config/. Lookup by the reported name is case-, space- and
// punctuation-insensitive and knows the vendors' variant habits: a vendor
// prefix ("WhatsMiner M30S++", "AvalonMiner 1366") and a Whatsminer chip-bin
// suffix ("M30S++V40", "M50 VH70").
import { z } from "zod";
import { formatGrouped } from "../number-text.ts";

const watts = (what: string) => z.number().positive().max(1_000_000).describe(`${what}, W`);

const PowerRangeSchema = z
  .strictObject({
    min: watts("Lowest power limit the model takes"),
    max: watts("Highest power limit the model takes"),
  })
  .refine((r) => r.min <= r.max, { error: "min must not be above max", path: ["min"] })
  .describe("The power limits (targets) the model takes, where its firmware has them");

export const MinerModelSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(80).describe('Display name, e.g. "Antminer S19j Pro"'),
    names: z
      .array(z.string().trim().min(1).max(80))
      .max(32)
      .default([])
      .describe("Other names firmware reports for it (the display name is always one)"),
    nominalW: watts("Nameplate power at nominal hashrate"),
    nominalThs: z.number().positive().max(100_000).describe("Nominal hashrate, TH/s"),
    powerLimitW: PowerRangeSchema.nullable()
      .default(null)
      .describe("Power-limit range; null where the model takes no watt target"),
    sleepW: z
      .number()
      .min(0)
      .max(10_000)
      .describe("Lowest draw asleep (control board, PSU standby, fans), W"),
    lowPowerW: watts(
      "Draw in the stock firmware's low-power mode (Antminer miner-mode 3; absent where the model has none or it is not known)",
    ).optional(),
    wakeUpS: z
      .number()
      .min(0)
      .max(3600)
      .describe("Seconds from a wake command to full hashing (the chains initialise and ramp)"),
    hotChipC: z
      .number()
      .min(40)
      .max(150)
      .nullable()
      .default(null)
      .describe(
        "Chip temperature from which the model is called hot (its firmware's throttle point), °C; null = the agent's default",
      ),
    hotBoardC: z
      .number()
      .min(30)
      .max(150)
      .nullable()
      .default(null)
      .describe(
        "Board (PCB) temperature from which the model is called hot, °C; null = boards are not judged",
      ),
    note: z.string().max(500).optional().describe("Where a figure differs from the file's source, why"),
  })
  .superRefine((m, ctx) => {
    const r = m.powerLimitW;
    if (r && m.nominalW > r.max * 1.25)
      ctx.issues.push({
        code: "custom",
        path: ["powerLimitW", "max"],
        message: `is far below nominalW ${m.nominalW} W: a typo?`,
        input: r.max,
      });
    if (m.sleepW >= m.nominalW)
      ctx.issues.push({
        code: "custom",
        path: ["sleepW"],
        message: "must be below nominalW",
        input: m.sleepW,
      });
    if (m.lowPowerW !== undefined && (m.lowPowerW >= m.nominalW || m.lowPowerW <= m.sleepW))
      ctx.issues.push({
        code: "custom",
        path: ["lowPowerW"],
        message: `must be between sleepW ${m.sleepW} W and nominalW ${m.nominalW} W`,
        input: m.lowPowerW,
      });
  })
  .describe("One miner model");
export type MinerModel = z.output<typeof MinerModelSchema>;

/** One file of config/models/: a vendor's models and where the figures come from. */
export const ModelFileSchema = z
  .strictObject({
    vendor: z.string().trim().min(1).max(80),
    source: z.string().trim().min(1).max(2000).describe("The public sources of the figures (spec sheets…)"),
    models: z.array(MinerModelSchema).min(1).max(500),
  })
  .describe("A file of miner models");

/** A model with where it was defined (for messages: "config/models/antminer.yaml"). */
export type KnownModel = MinerModel & { origin: string };

/** What a driver and the agent ask of the models: the one a reported name means, if any. */
export interface ModelLookup {
  find(reported: string | null | undefined): KnownModel | null;
}

/** Prefixes firmware puts before the model proper. */
const VENDOR_PREFIX = /^(antminer|bitmain|whatsminer|microbt|avalonminer|avalon|canaan|auradine|teraflux)/;
/** Whatsminer's chip-bin suffix: M30S++V40, M50 VH70, M60S VK10. */
const VARIANT_SUFFIX = /v[a-z]{0,2}\d{1,3}$/;

/** The comparable form of a name: lower case, no spaces, dots, dashes or underscores. */
function normalizeModelName(name: string): string {
  return name.toLowerCase().replace(/[\s._\-()]+/g, "");
}

/** The keys one name is known by: itself, and without a vendor prefix. */
function keysOf(name: string): string[] {
  const n = normalizeModelName(name);
  const bare = n.replace(VENDOR_PREFIX, "");
  return bare !== n && bare !== "" ? [n, bare] : [n];
}

/** A name claimed by two models, for the loader to report. */
export interface NameClash {
  name: string;
  first: KnownModel;
  second: KnownModel;
}

/**
 * The models a site knows, looked up by reported name. Earlier models win a
 * name (a site's own models come before the shipped ones and so override them).
 */
export class ModelCatalog implements ModelLookup {
  readonly models: readonly KnownModel[];
  private readonly byKey = new Map<string, KnownModel>();
  /** Names two models claim (the loader reports them within one layer; across layers the first wins). */
  readonly clashes: NameClash[] = [];

  constructor(models: readonly KnownModel[]) {
    this.models = models;
    for (const m of models) {
      for (const name of [m.name, ...m.names]) {
        for (const key of keysOf(name)) {
          const other = this.byKey.get(key);
          if (!other) this.byKey.set(key, m);
          else if (other !== m && !this.clashes.some((c) => c.name === name))
            this.clashes.push({ name, first: other, second: m });
        }
      }
    }
  }

  /** Answers by the reported string: the planner asks for every miner every tick. */
  private readonly found = new Map<string, KnownModel | null>();

  find(reported: string | null | undefined): KnownModel | null {
    if (!reported) return null;
    const known = this.found.get(reported);
    if (known !== undefined) return known;
    const m = this.lookup(reported);
    // bounded: a fleet reports a handful of model strings; a hostile one cannot grow it forever
    if (this.found.size < 1024) this.found.set(reported, m);
    return m;
  }

  private lookup(reported: string): KnownModel | null {
    const n = normalizeModelName(reported);
    if (n === "") return null;
    const bare = n.replace(VENDOR_PREFIX, "");
    for (const key of [n, bare, n.replace(VARIANT_SUFFIX, ""), bare.replace(VARIANT_SUFFIX, "")]) {
      if (key === "") continue;
      const m = this.byKey.get(key);
      if (m) return m;
    }
    return null;
  }
}

/** "2,000 W". */
function formatWatts(w: number): string {
  return `${formatGrouped(w, 0)} W`;
}

/**
 * Why a power limit is outside the model's range (null when it is inside, or
 * the model takes any): what a driver answers instead of sending it.
 */
export function powerLimitOutOfRange(model: KnownModel, watts: number): string | null {
  const r = model.powerLimitW;
  if (!r) return null;
  if (watts < r.min)
    return `power limit ${formatWatts(watts)} is below the ${model.name}'s minimum ${formatWatts(r.min)} (${model.origin})`;
  if (watts > r.max)
    return `power limit ${formatWatts(watts)} is above the ${model.name}'s maximum ${formatWatts(r.max)} (${model.origin})`;
  return null;
}
