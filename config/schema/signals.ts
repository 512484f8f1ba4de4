// Schema of the signals section: grid signals the site follows, each a budget
// source — a Modbus TCP server for a QSE's RTU, a dry contact on a Modbus I/O
// module, and an aggregator's MQTT target.
import { z } from "zod";
import {
  DURATION_HELP,
  durationDefault,
  FileSchema,
  hostPort,
  optNull,
  POWER_HELP,
  power,
  show,
} from "./fields.ts";
import { ModbusSchema } from "./meters.ts";
import { ownBrokerFields } from "./mqtt.ts";

const OnStaleSchema = z.enum(["release", "hold", "failsafe"]);

const IPV4_OR_6 = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:]+)$/;

const ModbusServerSignalSchema = z
  .strictObject({
    name: z.string().min(1).default("qse-rtu").describe("Shown as the budget's reason and in /api/site"),
    listen: z
      .string()
      .default("0.0.0.0:1502")
      .transform(hostPort(502))
      .describe('"host:port" the Modbus TCP server listens on (port default 502)'),
    unitId: z.number().int().min(1).max(247).default(1).describe("Unit id the RTU addresses"),
    allow: z
      .array(
        z.string().regex(IPV4_OR_6, {
          error: (iss) => `expected a client IP address, got ${show(iss.input)}`,
        }),
      )
      .default([])
      .describe("Client addresses allowed to connect; others are closed at connect (empty: loopback only)"),
    staleS: durationDefault(60, { positive: true }).describe(
      `The RTU changes the heartbeat register at least this often; ${DURATION_HELP}`,
    ),
    onStale: OnStaleSchema.default("release").describe(
      "When the heartbeat stops: release the setpoint, hold it, or fall to control.failsafeBudgetW",
    ),
  })
  .describe(
    "Modbus TCP server for a QSE's RTU: setpoint, enable and heartbeat in; site power, budget, flexible power and status out",
  );

const ContactSignalSchema = z
  .strictObject({
    name: z.string().min(1).default("contact").describe("Shown as the budget's reason"),
    modbus: ModbusSchema.describe("The I/O module"),
    discreteInput: z.number().int().min(0).max(65535).optional().describe("Discrete input address (FC02)"),
    coil: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .optional()
      .describe("Coil address (FC01), instead of discreteInput"),
    activeBudgetW: power().describe(`Budget while the contact is closed; ${POWER_HELP}`),
    pollS: durationDefault(1, { positive: true }).describe(`How often the contact is read; ${DURATION_HELP}`),
    staleS: durationDefault(10, { positive: true }).describe(
      `The module unreadable this long: onStale applies; ${DURATION_HELP}`,
    ),
    onStale: OnStaleSchema.default("hold").describe(
      "When the module cannot be read: release, hold the last state, or failsafe",
    ),
  })
  .superRefine((c, ctx) => {
    if ((c.discreteInput === undefined) === (c.coil === undefined)) {
      ctx.issues.push({
        code: "custom",
        path: ["discreteInput"],
        message: "give discreteInput or coil (one of them)",
        input: c,
      });
    }
  })
  .describe("A dry contact read from a Modbus I/O module");

const TargetSignalSchema = z
  .strictObject({
    name: z.string().min(1).default("aggregator").describe("Shown as the budget's reason"),
    ...ownBrokerFields({
      url: "A second broker (the aggregator's); null = the site's own mqtt link",
      username: "User on the second broker",
      passwordFile: "Password on the second broker (env: WATTKEEPER_SIGNALS_TARGET_PASSWORD)",
      caFile: "PEM CA bundle for the second broker",
    }),
    protocolVersion: z
      .union([z.literal(5), z.literal(4)])
      .default(4)
      .describe("5 or 4 (MQTT 3.1.1) on the second broker"),
    topic: z
      .string()
      .min(1)
      .refine((t) => !/[#+]/.test(t), {
        error: (iss) => `expected a topic without wildcards, got ${show(iss.input)}`,
      })
      .describe('Topic of {"target": 0..100, "timestamp": …}'),
    staleS: durationDefault(240, { positive: true }).describe(
      `A target older than this is stale; ${DURATION_HELP}`,
    ),
    failPolicy: z
      .enum(["closed", "open"])
      .default("closed")
      .describe("Stale feed: closed curtails to floorPct, open releases the constraint"),
    floorPct: z
      .number()
      .min(0)
      .max(100)
      .default(0)
      .describe("Share of flexible load kept when a closed policy curtails"),
  })
  .describe(
    'An aggregator\'s MQTT target: {"target": percent of flexible load to keep running, "timestamp"}',
  );

const HttpUrlSchema = z.string().refine(
  (u) => {
    try {
      return ["http:", "https:"].includes(new URL(u).protocol);
    } catch {
      return false;
    }
  },
  { error: (iss) => `expected an http(s) URL, got ${show(iss.input)}` },
);

const OpenAdrSignalSchema = z
  .strictObject({
    name: z.string().min(1).default("openadr").describe("Shown as the budget's reason"),
    vtnUrl: HttpUrlSchema.describe("The VTN's base URL, e.g. https://vtn.example.net/openadr3/3.1.1"),
    tokenUrl: optNull(HttpUrlSchema).describe("OAuth2 token endpoint (default: the VTN's /auth/server says)"),
    clientId: optNull(z.string().min(1)).describe("OAuth2 client id"),
    clientSecretFile: optNull(FileSchema).describe(
      "OAuth2 client secret (env: WATTKEEPER_SIGNALS_OPENADR_CLIENT_SECRET)",
    ),
    tokenFile: optNull(FileSchema).describe("A static bearer token instead of client credentials"),
    venName: z.string().min(1).max(128).describe("The VEN's name: clientName of its reports"),
    programs: z.array(z.string().min(1)).min(1).describe("Program names to follow"),
    pollS: durationDefault(30, { positive: true }).describe(`How often the VTN is polled; ${DURATION_HELP}`),
    staleS: durationDefault("5m", { positive: true }).describe(
      `No answer from the VTN this long: the signal reads stale (the last schedule still applies); ${DURATION_HELP}`,
    ),
    simpleLevels: z
      .partialRecord(
        z.enum(["1", "2", "3"], {
          error: (iss) => `expected a SIMPLE level 1, 2 or 3, got ${show(iss.input)}`,
        }),
        power(),
      )
      .default({})
      .describe(`Budget for each SIMPLE level (0 is normal operation); ${POWER_HELP}`),
  })
  .superRefine((o, ctx) => {
    if (!o.tokenFile && !(o.clientId && o.clientSecretFile)) {
      ctx.issues.push({
        code: "custom",
        path: ["clientId"],
        message: "give clientId and clientSecretFile (OAuth2 client credentials), or tokenFile",
        input: o,
      });
    }
  })
  .describe("An OpenADR 3 VEN: follows the events of the named programs, reports usage");

export const SignalsSchema = z
  .strictObject({
    modbusServer: optNull(ModbusServerSignalSchema),
    contact: optNull(ContactSignalSchema),
    target: optNull(TargetSignalSchema),
    openadr: optNull(OpenAdrSignalSchema),
  })
  .describe(
    "Grid signals the site follows, each one more budget source (the effective budget is the lowest)",
  );
