// Meter register profiles as data (config/meters/*.yaml or inline in the config).
// The same schema validates both; config/ composes it, drivers/ owns it.
import { z } from "zod";

const REGISTER_TYPES = ["u16", "s16", "u32", "s32", "u64", "f32", "f64"] as const;
const RegisterTypeSchema = z.enum(REGISTER_TYPES);
export type RegisterType = z.infer<typeof RegisterTypeSchema>;

/** Number of 16-bit registers each type spans. */
export const REGISTER_WORDS: Record<RegisterType, number> = {
  u16: 1,
  s16: 1,
  u32: 2,
  s32: 2,
  u64: 4,
  f32: 2,
  f64: 4,
};

const MEASUREMENTS = [
  "powerW",
  "energyKwh",
  "voltageL1V",
  "voltageL2V",
  "voltageL3V",
  "currentL1A",
  "currentL2A",
  "currentL3A",
  "frequencyHz",
  "powerFactor",
] as const;
const MeasurementSchema = z.enum(MEASUREMENTS);
export type Measurement = z.infer<typeof MeasurementSchema>;

const RegisterSpecSchema = z
  .object({
    address: z.number().int().min(0).max(65535).describe("Register address (0-based, as sent on the wire)"),
    function: z.enum(["input", "holding"]).default("input").describe("FC4 input or FC3 holding registers"),
    type: RegisterTypeSchema,
    wordOrder: z
      .enum(["big", "little"])
      .default("big")
      .describe("big: high word first (most meters); little: low word first"),
    scale: z.number().default(1).describe("Multiply the raw value by this to get the unit below"),
    unit: z.string().optional(),
    nanSentinel: z.number().optional().describe("A raw value that means 'no reading'"),
    min: z.number().optional().describe("Plausible range; values outside mark the meter degraded"),
    max: z.number().optional(),
  })
  .strict();
export type RegisterSpec = z.infer<typeof RegisterSpecSchema>;

export const MeterProfileSchema = z
  .object({
    name: z.string().min(1),
    vendor: z.string().optional(),
    source: z.string().optional().describe("The vendor document the register map comes from"),
    maxGap: z.number().int().min(0).max(125).default(10).describe("Registers of gap filled to merge reads"),
    registers: z.partialRecord(MeasurementSchema, RegisterSpecSchema),
  })
  .strict()
  .refine((p) => p.registers.powerW !== undefined, {
    message: "a meter profile must map powerW",
    path: ["registers", "powerW"],
  });
export type MeterProfile = z.infer<typeof MeterProfileSchema>;
