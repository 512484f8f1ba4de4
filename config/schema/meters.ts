// Schemas of a meters entry: how to reach the meter over Modbus (TCP, RTU or
// RTU over TCP) and which register profile, named or inline, reads it.
import { z } from "zod";
import { MeterProfileSchema } from "../../drivers/modbus/profile.ts";
import { METER_ROLES } from "../../drivers/types.ts";
import { hostPortMessage, IdSchema, optNull, parseHostPort, show } from "./fields.ts";

export type ModbusTarget =
  | { kind: "tcp"; host: string; port: number; unitId: number }
  | { kind: "rtuOverTcp"; host: string; port: number; unitId: number }
  | {
      kind: "rtu";
      path: string;
      baudRate: number;
      parity: "none" | "even" | "odd";
      dataBits: 7 | 8;
      stopBits: 1 | 2;
      unitId: number;
    };

const TRANSPORTS = ["tcp", "rtu", "rtuOverTcp"] as const;

export const ModbusSchema = z
  .strictObject({
    tcp: z.string().optional().describe('Modbus TCP: "host:port" (port default 502)'),
    rtu: z.string().min(1).optional().describe("Modbus RTU: serial device, e.g. /dev/ttyUSB0"),
    rtuOverTcp: z.string().optional().describe('RTU framing through a TCP serial gateway: "host:port"'),
    unitId: z.number().int().min(0).max(247).describe("Modbus unit (slave) id: 0–247, 1–247 on RTU"),
    baudRate: z.number().int().positive().optional().describe("RTU only, required there"),
    parity: z.enum(["none", "even", "odd"]).optional().describe("RTU only, required there"),
    dataBits: z
      .union([z.literal(7), z.literal(8)], { error: (iss) => `expected 7 or 8, got ${show(iss.input)}` })
      .optional()
      .describe("RTU only (default 8)"),
    stopBits: z
      .union([z.literal(1), z.literal(2)], { error: (iss) => `expected 1 or 2, got ${show(iss.input)}` })
      .optional()
      .describe("RTU only (default 1)"),
  })
  .transform((m, ctx): ModbusTarget => {
    const given = TRANSPORTS.filter((t) => m[t] !== undefined);
    if (given.length !== 1) {
      ctx.issues.push({
        code: "custom",
        message:
          given.length === 0
            ? "expected one of tcp, rtu or rtuOverTcp"
            : `give only one of tcp, rtu or rtuOverTcp, not ${given.join(" and ")}`,
        input: m,
      });
      return z.NEVER;
    }
    if (given[0] !== "rtu") {
      for (const k of ["baudRate", "parity", "dataBits", "stopBits"] as const) {
        if (m[k] !== undefined) {
          ctx.issues.push({ code: "custom", path: [k], message: "is for rtu only", input: m[k] });
        }
      }
      const key = given[0] as "tcp" | "rtuOverTcp";
      const hp = parseHostPort(m[key] as string, 502);
      if (!hp)
        ctx.issues.push({
          code: "custom",
          path: [key],
          message: hostPortMessage(m[key], 502),
          input: m[key],
        });
      if (!hp || ctx.issues.length > 0) return z.NEVER;
      return { kind: key, host: hp.host, port: hp.port, unitId: m.unitId };
    }
    if (m.unitId === 0)
      ctx.issues.push({
        code: "custom",
        path: ["unitId"],
        message: "must be 1–247 on RTU (0 is broadcast)",
        input: 0,
      });
    if (m.baudRate === undefined)
      ctx.issues.push({
        code: "custom",
        path: ["baudRate"],
        message: "is required for rtu",
        input: undefined,
      });
    if (m.parity === undefined)
      ctx.issues.push({ code: "custom", path: ["parity"], message: "is required for rtu", input: undefined });
    if (ctx.issues.length > 0) return z.NEVER;
    return {
      kind: "rtu",
      path: m.rtu as string,
      baudRate: m.baudRate as number,
      parity: m.parity as "none" | "even" | "odd",
      dataBits: m.dataBits ?? 8,
      stopBits: m.stopBits ?? 1,
      unitId: m.unitId,
    };
  })
  .describe(
    'How to reach the meter: { tcp: "host:port", unitId }, { rtu: /dev/ttyUSB0, baudRate, parity, unitId } or { rtuOverTcp: "host:port", unitId }',
  );

export const MeterEntrySchema = z
  .strictObject({
    id: IdSchema.describe("Unique device id"),
    role: z
      .enum(METER_ROLES)
      .describe(
        "site = point of common coupling (the loop's authority, at most one); ai, mining, aux = sub-meters",
      ),
    profile: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]*$/, {
        error: (iss) => `expected a profile name like "sdm630", got ${show(iss.input)}`,
      })
      .optional()
      .describe("Register profile: the name of a file config/meters/<name>.yaml. Or give registers inline"),
    registers: MeterProfileSchema.shape.registers
      .optional()
      .describe("Inline register map (same shape as a profile's registers), instead of profile"),
    maxGap: MeterProfileSchema.shape.maxGap
      .unwrap()
      .optional()
      .describe("With inline registers: registers of gap filled to merge reads"),
    modbus: ModbusSchema,
    timeoutMs: z.number().int().positive().default(1000).describe("Per-request timeout"),
    gapMs: optNull(z.number().int().min(0)).describe(
      "Pause between requests on one connection; default 20 on serial lines and RTU gateways, 0 on Modbus TCP",
    ),
  })
  .superRefine((m, ctx) => {
    if ((m.profile === undefined) === (m.registers === undefined)) {
      ctx.issues.push({
        code: "custom",
        path: [m.profile === undefined ? "profile" : "registers"],
        message:
          m.profile === undefined
            ? "give a profile name or an inline registers map"
            : "give either profile or an inline registers map, not both",
        input: m,
      });
    }
    if (m.maxGap !== undefined && m.registers === undefined) {
      ctx.issues.push({
        code: "custom",
        path: ["maxGap"],
        message: "is for inline registers only",
        input: m.maxGap,
      });
    }
  });
