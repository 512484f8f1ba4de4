// Schema of the control section: the loop's timing and margins, scheduled
// budget windows, and the economic cut.
import { z } from "zod";
import { DURATION_HELP, durationDefault, optNull, POWER_HELP, power, powerDefault, show } from "./fields.ts";

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
const TIME_RE = /^([01]\d|2[0-3]):([0-5]\d)$/;
const TimeSchema = z.string().regex(TIME_RE, {
  error: (iss) => `expected a time "HH:MM" from 00:00 to 23:59, got ${show(iss.input)}`,
});

const ALL_MONTHS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
/** Months 1–12 a window applies in (the schedule and the peak programs share the field). */
const monthsField = (byDefault: number[], help: string) =>
  z.array(z.number().int().min(1).max(12)).min(1).default(byDefault).describe(help);
/** Days mon..sun, every day by default. */
const daysField = () =>
  z
    .array(z.enum(DAYS))
    .min(1)
    .default([...DAYS]);
/** A peak program's window: the months and days it applies on, its hours and its budget. */
const peakWindow = (byDefault: number[], monthsHelp: string) => ({
  months: monthsField(byDefault, monthsHelp),
  days: daysField(),
  from: TimeSchema.describe('Window start, "HH:MM" local time'),
  to: TimeSchema.describe('Window end, "HH:MM" local time (exclusive)'),
  budgetW: power().describe(`Budget in the window; ${POWER_HELP}`),
});

function minuteOfDay(t: string): number {
  const [h, m] = t.split(":");
  return Number(h) * 60 + Number(m);
}

export const ScheduleWindowSchema = z
  .strictObject({
    name: z.string().min(1).describe("Shown as the budget's reason while the window is active"),
    months: monthsField(ALL_MONTHS, "Months 1–12 (default: all)"),
    days: daysField().describe("Days mon..sun (default: all)"),
    from: TimeSchema.describe('Start, "HH:MM" local time'),
    to: TimeSchema.describe(
      'End, "HH:MM" local time (exclusive); earlier than from = the window crosses midnight',
    ),
    budgetW: power().describe(`Budget while the window is active; ${POWER_HELP}`),
  })
  .superRefine((w, ctx) => {
    if (w.from === w.to) {
      ctx.issues.push({
        code: "custom",
        path: ["to"],
        message: `must differ from from (${w.from}); for a whole day use 00:00 to 23:59`,
        input: w.to,
      });
    }
  })
  .transform((w) => ({ ...w, fromMinute: minuteOfDay(w.from), toMinute: minuteOfDay(w.to) }))
  .describe("A window with a lower budget (peak hours, demand response)");

/** Plausibility bounds and freshness of one price: a value outside is refused and alarmed. */
function priceLimits(what: string, unit: string, def: { min: number; max: number; maxAgeS: string }) {
  return z
    .strictObject({
      min: z.number().default(def.min).describe(`Lowest plausible ${what}, ${unit}`),
      max: z.number().default(def.max).describe(`Highest plausible ${what}, ${unit}`),
      maxAgeS: durationDefault(def.maxAgeS, { positive: true }).describe(
        `A ${what} from a topic older than this expires (unknown again: no economic cut); ${DURATION_HELP}`,
      ),
    })
    .prefault({})
    .superRefine((l, ctx) => {
      if (l.min >= l.max) {
        ctx.issues.push({
          code: "custom",
          path: ["max"],
          message: `must be greater than min (${l.min})`,
          input: l.max,
        });
      }
    });
}

const EconomicsSchema = z
  .strictObject({
    hashpricePerThDay: optNull(z.number().min(0)).describe("Fixed hashprice, ¤ per TH/s per day"),
    hashpriceTopic: optNull(z.string().min(1)).describe("MQTT topic holding the hashprice (retained)"),
    energyPricePerKwh: optNull(z.number()).describe("Fixed energy price, ¤ per kWh (may be negative)"),
    energyPriceTopic: optNull(z.string().min(1)).describe(
      "MQTT topic holding the energy price, ¤/kWh (retained)",
    ),
    // ERCOT's real-time price runs from about -0.25 to its 5 $/kWh cap
    energyPrice: priceLimits("energy price", "¤/kWh", { min: -1, max: 10, maxAgeS: "2h" }),
    hashprice: priceLimits("hashprice", "¤/TH/day", { min: 0, max: 5, maxAgeS: "48h" }),
    signedPrices: z
      .boolean()
      .default(false)
      .describe(
        "Price messages must be signed envelopes, by the same keys as commands (mqtt.commandKeys); unsigned ones are refused",
      ),
  })
  .superRefine((e, ctx) => {
    for (const [fixed, limits] of [
      ["hashpricePerThDay", "hashprice"],
      ["energyPricePerKwh", "energyPrice"],
    ] as const) {
      const v = e[fixed];
      const l = e[limits];
      if (v !== null && (v < l.min || v > l.max)) {
        ctx.issues.push({
          code: "custom",
          path: [fixed],
          message: `${v} is outside the plausible range ${l.min} … ${l.max} (${limits}.min/max)`,
          input: v,
        });
      }
    }
    for (const [fixed, topic] of [
      ["hashpricePerThDay", "hashpriceTopic"],
      ["energyPricePerKwh", "energyPriceTopic"],
    ] as const) {
      if ((e[fixed] === null) === (e[topic] === null)) {
        ctx.issues.push({
          code: "custom",
          path: [e[fixed] === null ? fixed : topic],
          message: e[fixed] === null ? `give ${fixed} or ${topic}` : `give ${fixed} or ${topic}, not both`,
          input: e,
        });
      }
    }
  })
  .describe("The economic cut: miners earning less than their energy cost are slept");

/**
 * Program presets. ERS-10 / ERS-30: a budget drop must be met within 10 / 30
 * minutes (a miner held by minOnS past the deadline is shed anyway). 4CP /
 * 12CP: a peak window with a lower budget (4CP: June–September; 12CP: every
 * month), a schedule window by another name.
 */
const ProgramSchema = z.discriminatedUnion("kind", [
  z.strictObject({
    kind: z.literal("ers-10"),
    name: z.string().min(1).default("ERS-10").describe("Shown in events"),
  }),
  z.strictObject({
    kind: z.literal("ers-30"),
    name: z.string().min(1).default("ERS-30").describe("Shown in events"),
  }),
  z.strictObject({
    kind: z.literal("4cp"),
    name: z.string().min(1).default("4CP peak window"),
    ...peakWindow([6, 7, 8, 9], "Default June–September"),
  }),
  z.strictObject({
    kind: z.literal("12cp"),
    name: z.string().min(1).default("12CP peak window"),
    ...peakWindow(ALL_MONTHS, "Default every month"),
  }),
]);

/** Track mode: the band under the shed line it holds, and the guards against oscillation. */
const TrackSchema = z
  .strictObject({
    toleranceW: powerDefault("20kW", { positive: true }).describe(
      "Site power is held within this band under budget − shedMarginW: targets are raised once P sits more than half the band under that line (to a quarter of the band under it) and lowered once P crosses it",
    ),
    dwellS: durationDefault(30).describe("A miner's power target changes at most once per this long"),
    deadbandW: powerDefault(100).describe(
      "A target change smaller than this is not sent (except to stay under budget)",
    ),
  })
  .prefault({})
  .describe("strategy: track: how closely site power follows the budget");

export const ControlSchema = z
  .strictObject({
    tickS: durationDefault(2, { min: 0.5, max: 60 }).describe(
      `Control loop period, 0.5–60 s; ${DURATION_HELP}`,
    ),
    shedMarginW: powerDefault("50kW").describe("Shed when P > budget − shedMarginW"),
    restoreMarginW: powerDefault("150kW").describe(
      "Restore when P < budget − restoreMarginW; must exceed shedMarginW (hysteresis)",
    ),
    emergencyMarginW: powerDefault("500kW").describe("Over budget + this, minOnS is ignored"),
    minOnS: durationDefault("5m").describe("A woken miner runs at least this long before it is slept again"),
    minOffS: durationDefault("2m").describe("A slept miner stays asleep at least this long"),
    rampUpWPerMin: powerDefault("2MW", { positive: true }).describe(
      "Expected power of wakes issued in any 60 s window stays under this",
    ),
    rampDownWPerMin: optNull(power({ positive: true })).describe(
      "Sheds the budget does not force (an economic cut: mining that loses money) are spread to this many watts a minute (at least one miner); null: at once. Over a hard budget (contract, lease, schedule, signal, fail-safe) the loop always sheds at once",
    ),
    restoreStaggerS: durationDefault(10).describe(
      "Restore batches are at least this far apart, and each adds at most rampUpWPerMin × restoreStaggerS / 60 (at least one miner): the site rises as a slope",
    ),
    meterStaleS: durationDefault(10, { positive: true }).describe(
      "A site meter reading older than this is stale (fail-safe); must exceed tickS",
    ),
    unmeteredW: powerDefault(0).describe("Load no device reports (lights, cooling), added to estimates"),
    failsafeBudgetW: optNull(power()).describe(
      "Budget when neither the meter nor device reports give P (default: half of contractLimitW)",
    ),
    strategy: z
      .enum(["sleep", "power-limit-then-sleep", "track"])
      .default("sleep")
      .describe(
        "sleep whole miners; or lower power limits first where the dialect can; or track: trim power targets up and down to hold site power just under the shed line (control.track), sleeping and waking whole miners only when targets run out",
      ),
    track: TrackSchema,
    aiStepW: optNull(power({ positive: true })).describe(
      "When AI power (GPU nodes or an ai meter) moves by more than this between ticks, mining compensates in the same tick, before the site meter shows the step; null: off",
    ),
    retries: z
      .number()
      .int()
      .min(0)
      .max(10)
      .default(3)
      .describe("Attempts per action before it is marked failed"),
    schedule: z.array(ScheduleWindowSchema).default([]).describe("Scheduled budget windows"),
    economics: optNull(EconomicsSchema),
    programs: z
      .array(ProgramSchema)
      .default([])
      .describe("Program presets: ers-10 / ers-30 deadlines, 4cp / 12cp peak windows"),
  })
  .describe("The control loop; every key has a default");
