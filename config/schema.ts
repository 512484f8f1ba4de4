// The one schema for a site config file. It is the source of the TypeScript
// types (z.infer), the defaults, the JSON Schema (npm run schema) and the
// reference in docs/config.md, so the four cannot drift apart. Every object is
// strict: an unknown key is an error, because a typo (shedMargin for
// shedMarginW) would otherwise fall back to a default without anyone noticing.
// Checks that span sections (duplicate ids, margins against each other, files
// on disk) live in load.ts, which reports them with the user's own paths.
import { z } from "zod";
import { type MeterProfile, MeterProfileSchema } from "../drivers/modbus/profile.ts";
import { DialectSchema, METER_ROLES } from "../drivers/types.ts";
import { countHosts, isHost } from "./hosts.ts";
import { parseDurationS, parsePowerW } from "./units.ts";

function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return String(v);
}

/** Optional in the file, null (never undefined) in the parsed config. */
function optNull<T extends z.ZodType>(schema: T) {
  return schema
    .optional()
    .transform((v): z.output<T> | null => (v === undefined ? null : (v as z.output<T>)));
}

// ---------------------------------------------------------------- units

const POWER_HELP = 'watts, or a string with a unit: "350 W", "3.5kW", "24MW", "1.2GW"';
const DURATION_HELP = 'seconds, or a string with a unit: "500ms", "30s", "5m", "2h"';

function powerInput() {
  return z.union([z.number(), z.string()], {
    error: (iss) => `expected a power like 3500, "3.5kW" or "24MW", got ${show(iss.input)}`,
  });
}

function toWatts(opts: { positive?: boolean }) {
  return (v: number | string, ctx: z.core.$RefinementCtx<number | string>): number => {
    let w: number;
    try {
      w = parsePowerW(v);
    } catch (e) {
      ctx.issues.push({ code: "custom", message: (e as Error).message, input: v });
      return z.NEVER;
    }
    // A negative power is a sign error in every place the config takes one.
    if (w < 0) {
      ctx.issues.push({ code: "custom", message: `must not be negative, got ${show(v)}`, input: v });
      return z.NEVER;
    }
    if (opts.positive && w === 0) {
      ctx.issues.push({ code: "custom", message: "must be greater than 0", input: v });
      return z.NEVER;
    }
    return w;
  };
}

/** A required power in watts (≥ 0, or > 0 with positive). */
export function power(opts: { positive?: boolean } = {}) {
  return powerInput().transform(toWatts(opts));
}

/** A power with a default (written as the user would, e.g. "50kW"). */
export function powerDefault(def: number | string, opts: { positive?: boolean } = {}) {
  return powerInput().default(def).transform(toWatts(opts));
}

function durationInput() {
  return z.union([z.number(), z.string()], {
    error: (iss) => `expected a duration like 30, "30s", "5m", "2h" or "500ms", got ${show(iss.input)}`,
  });
}

function toSeconds(opts: { min?: number; max?: number; positive?: boolean }) {
  return (v: number | string, ctx: z.core.$RefinementCtx<number | string>): number => {
    let s: number;
    try {
      s = parseDurationS(v);
    } catch (e) {
      ctx.issues.push({ code: "custom", message: (e as Error).message, input: v });
      return z.NEVER;
    }
    const min = opts.min ?? 0;
    if (s < min) {
      ctx.issues.push({ code: "custom", message: `must be at least ${min} s, got ${show(v)}`, input: v });
      return z.NEVER;
    }
    if (opts.positive && s === 0) {
      ctx.issues.push({ code: "custom", message: "must be greater than 0", input: v });
      return z.NEVER;
    }
    if (opts.max !== undefined && s > opts.max) {
      ctx.issues.push({ code: "custom", message: `must be at most ${opts.max} s, got ${show(v)}`, input: v });
      return z.NEVER;
    }
    return s;
  };
}

/** A duration in seconds with a default. */
export function durationDefault(
  def: number | string,
  opts: { min?: number; max?: number; positive?: boolean } = {},
) {
  return durationInput().default(def).transform(toSeconds(opts));
}

// ---------------------------------------------------------------- small shared pieces

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const IdSchema = z
  .string()
  .regex(ID_RE, {
    error: (iss) => `expected an id of letters, digits, ".", "_" or "-", got ${show(iss.input)}`,
  })
  .max(128);

const PortSchema = z.number().int().min(1).max(65535);
const PrioritySchema = z
  .number()
  .int()
  .default(0)
  .describe("Higher priority = kept running longer: the loop sheds the lowest priority first");
const LocationSchema = z.string().min(1).describe("Free text, e.g. container-B/rack-3/slot-7");
const FileSchema = z.string().min(1);

const HostSchema = z.string().refine(isHost, {
  error: (iss) => `expected an IPv4 address or a host name, got ${show(iss.input)}`,
});

export interface HostPort {
  host: string;
  port: number;
}

/** Parses "host:port" (or "[v6]:port"); the port may be left out where a default exists. */
export function parseHostPort(v: string, defaultPort: number | null): HostPort | null {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s[\]]+))(?::(\d{1,5}))?$/.exec(v.trim());
  const host = m?.[1] ?? m?.[2];
  const port = m?.[3] !== undefined ? Number(m[3]) : defaultPort;
  if (!m || host === undefined || port === null || port < 1 || port > 65535) return null;
  if (!m[1] && !isHost(host)) return null;
  return { host, port };
}

function hostPortMessage(v: unknown, defaultPort: number | null): string {
  return `expected "host:port" like "10.0.0.5:${defaultPort ?? 8080}", got ${show(v)}`;
}

function hostPort(defaultPort: number | null) {
  return (v: string, ctx: z.core.$RefinementCtx<string>): HostPort => {
    const hp = parseHostPort(v, defaultPort);
    if (hp) return hp;
    ctx.issues.push({ code: "custom", message: hostPortMessage(v, defaultPort), input: v });
    return z.NEVER;
  };
}

// ---------------------------------------------------------------- site

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export const SiteSchema = z
  .strictObject({
    id: z
      .string()
      .regex(/^[a-z0-9-]+$/, {
        error: (iss) =>
          `expected lowercase letters, digits and "-" only (it is used in MQTT topics), got ${show(iss.input)}`,
      })
      .max(64)
      .describe("Site id: lowercase letters, digits and '-'; used in MQTT topics"),
    name: optNull(z.string().min(1)).describe("Display name; defaults to the id"),
    timezone: z
      .string()
      .refine(isTimeZone, {
        error: (iss) => `expected an IANA time zone like "America/Chicago" or "UTC", got ${show(iss.input)}`,
      })
      .describe("IANA time zone of the site; schedule windows are in this zone"),
    contractLimitW: power({ positive: true }).describe(
      `The site's contracted import limit (the static budget); ${POWER_HELP}`,
    ),
  })
  .describe("Who and where the site is");

// ---------------------------------------------------------------- mqtt

const MQTT_SCHEMES = ["mqtt:", "mqtts:", "ws:", "wss:"];

export const MqttSchema = z
  .strictObject({
    url: z
      .string()
      .superRefine((u, ctx) => {
        let url: URL | null = null;
        try {
          url = new URL(u);
        } catch {}
        if (!url || !MQTT_SCHEMES.includes(url.protocol)) {
          ctx.issues.push({
            code: "custom",
            message: `expected a broker URL like "mqtts://broker.example.net:8883" (mqtt, mqtts, ws or wss), got ${show(u)}`,
            input: u,
          });
        } else if (url.password !== "") {
          // Not echoed: it would be a secret in logs and summaries.
          ctx.issues.push({ code: "custom", message: "no password in the URL: use passwordFile", input: "" });
        }
      })
      .describe("Broker URL: mqtt://, mqtts://, ws:// or wss://"),
    username: optNull(z.string().min(1)).describe("Broker user name"),
    passwordFile: optNull(FileSchema).describe(
      "File holding the broker password (env: WATTKEEPER_MQTT_PASSWORD)",
    ),
    caFile: optNull(FileSchema).describe("PEM CA bundle to verify the broker (default: the system's CAs)"),
    certFile: optNull(FileSchema).describe("PEM client certificate, for mutual TLS (with keyFile)"),
    keyFile: optNull(FileSchema).describe("PEM client private key, for mutual TLS (with certFile)"),
    topicRoot: z
      .string()
      .refine(
        (t) => t.length > 0 && !/[#+]/.test(t) && !t.startsWith("/") && !t.endsWith("/") && !t.includes("//"),
        {
          error: (iss) =>
            `expected a topic prefix without wildcards or leading/trailing "/", got ${show(iss.input)}`,
        },
      )
      .default("wattkeeper/v1")
      .describe("Topic root; the site's topics are <topicRoot>/<site.id>/…"),
    protocolVersion: z
      .union([z.literal(5), z.literal(4)], {
        error: (iss) => `expected 5 (MQTT 5) or 4 (MQTT 3.1.1), got ${show(iss.input)}`,
      })
      .default(5)
      .describe("5 = MQTT 5 (preferred), 4 = MQTT 3.1.1"),
    commandSkewS: durationDefault(300, { positive: true }).describe(
      "Accepted clock difference for a command's issuedAt, either way",
    ),
    maxCommandBytes: z
      .number()
      .int()
      .min(256)
      .default(65536)
      .describe("Larger command envelopes are refused"),
    commandKeys: z
      .array(
        z.strictObject({
          name: z.string().regex(/^[A-Za-z0-9._-]+$/, {
            error: (iss) => `expected a key name of letters, digits, ".", "_" or "-", got ${show(iss.input)}`,
          }),
          publicKeyFile: FileSchema.describe("Ed25519 public key, PEM or base64 raw"),
        }),
      )
      .default([])
      .describe("Who may command this site: named Ed25519 public keys. None = no remote commands"),
    outbox: z
      .strictObject({
        maxMB: z
          .number()
          .positive()
          .default(64)
          .describe("Outbox size bound; oldest telemetry is dropped first"),
      })
      .prefault({})
      .describe("Offline buffer for telemetry and events"),
  })
  .superRefine((m, ctx) => {
    if ((m.certFile === null) !== (m.keyFile === null)) {
      ctx.issues.push({
        code: "custom",
        path: [m.certFile === null ? "certFile" : "keyFile"],
        message: "certFile and keyFile go together (mutual TLS needs both)",
        input: m,
      });
    }
    const seen = new Set<string>();
    m.commandKeys.forEach((k, i) => {
      if (seen.has(k.name)) {
        ctx.issues.push({
          code: "custom",
          path: ["commandKeys", i, "name"],
          message: `duplicate key name "${k.name}"`,
          input: k,
        });
      }
      seen.add(k.name);
    });
  })
  .describe("Central broker link. Leave out for a local-only agent");

// ---------------------------------------------------------------- http and store

const HASH_RE = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([^$\s]+)\$([^$\s]+)$/;

export const OperatorSchema = z.strictObject({
  name: z.string().min(1).max(64).describe("Operator login name"),
  passwordHash: z
    .string()
    .superRefine((h, ctx) => {
      const m = HASH_RE.exec(h);
      const n = Number(m?.[1]);
      if (!m || n < 2 || (n & (n - 1)) !== 0 || Number(m[2]) < 1 || Number(m[3]) < 1) {
        ctx.issues.push({
          code: "custom",
          message:
            'expected "scrypt$N$r$p$<salt-b64>$<hash-b64>" with N a power of two (make one with `wattkeeper hash-password`)',
          input: h,
        });
      }
    })
    .describe("scrypt$N$r$p$<salt-b64>$<hash-b64>, from `wattkeeper hash-password`"),
});

export const HttpSchema = z
  .strictObject({
    listen: z
      .string()
      .default("0.0.0.0:8080")
      .transform(hostPort(null))
      .describe('"host:port" the status page and API listen on'),
    operators: z
      .array(OperatorSchema)
      .default([])
      .describe("Who may act from the status page. None = a read-only page"),
  })
  .superRefine((h, ctx) => {
    const seen = new Set<string>();
    h.operators.forEach((o, i) => {
      if (seen.has(o.name)) {
        ctx.issues.push({
          code: "custom",
          path: ["operators", i, "name"],
          message: `duplicate operator "${o.name}"`,
          input: o,
        });
      }
      seen.add(o.name);
    });
  })
  .describe("Local status page, JSON API, /metrics and /healthz");

export const StoreSchema = z
  .strictObject({
    path: optNull(z.string().min(1)).describe(
      "SQLite database file. Default: $WATTKEEPER_STATE_DIR, else systemd's $STATE_DIRECTORY, else /var/lib/wattkeeper; + /wattkeeper.db",
    ),
  })
  .describe("Local state: curtailment ledger, MQTT outbox, audit log, history");

// ---------------------------------------------------------------- meters

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
    gapMs: z.number().int().min(0).default(20).describe("Pause between requests on one connection"),
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

// ---------------------------------------------------------------- miners

const HostsSpecSchema = z
  .union([z.string(), z.array(z.string()).min(1)], {
    error: (iss) => `expected a range, a CIDR block or a list of addresses, got ${show(iss.input)}`,
  })
  .superRefine((spec, ctx) => {
    const list = typeof spec === "string" ? [spec] : spec;
    list.forEach((s, i) => {
      try {
        countHosts(s);
      } catch (e) {
        ctx.issues.push({
          code: "custom",
          path: typeof spec === "string" ? [] : [i],
          message: (e as Error).message,
          input: s,
        });
      }
    });
  });

export const CredentialsSchema = z
  .strictObject({
    username: optNull(z.string().min(1)).describe(
      "User for digest auth (stock Antminer) or a dialect's logon",
    ),
    passwordFile: optNull(FileSchema).describe(
      "File holding the write-API password (env: WATTKEEPER_MINERS_<i>_CREDENTIALS_PASSWORD)",
    ),
  })
  .describe("Write-API credentials, where a dialect needs them");

export const MinerEntrySchema = z
  .strictObject({
    host: HostSchema.optional().describe("One miner: an address or host name (or use hosts)"),
    hosts: HostsSpecSchema.optional().describe(
      "Many miners: a range 10.1.0.10-10.1.0.250, shorthand 10.1.0.10-250, a CIDR 10.1.0.0/24 (hosts only) or a list",
    ),
    id: IdSchema.optional().describe(
      "With host only: the device id (default: idPrefix + address with dots as dashes)",
    ),
    idPrefix: z
      .string()
      .regex(/^[A-Za-z0-9._-]*$/, {
        error: (iss) => `expected letters, digits, ".", "_" or "-", got ${show(iss.input)}`,
      })
      .default("m-")
      .describe('Derived ids are idPrefix + address with dots as dashes (+ "-<port>" when port is not 4028)'),
    port: PortSchema.default(4028).describe("API port"),
    dialect: DialectSchema.default("auto").describe("auto detects; or name the firmware's API"),
    location: optNull(LocationSchema),
    priority: PrioritySchema,
    nominalW: optNull(power()).describe(
      `Nameplate power, for estimates when the miner reports none; ${POWER_HELP}`,
    ),
    credentials: optNull(CredentialsSchema),
  })
  .superRefine((m, ctx) => {
    if ((m.host === undefined) === (m.hosts === undefined)) {
      ctx.issues.push({
        code: "custom",
        path: [m.host === undefined ? "host" : "hosts"],
        message:
          m.host === undefined ? "give host (one miner) or hosts (many)" : "give host or hosts, not both",
        input: m,
      });
    }
    if (m.id !== undefined && m.hosts !== undefined) {
      ctx.issues.push({
        code: "custom",
        path: ["id"],
        message: "id goes with a single host; for hosts use idPrefix",
        input: m.id,
      });
    }
  })
  .describe("A miner or a group of miners sharing settings");

// ---------------------------------------------------------------- GPU nodes

export const GpuNodeSchema = z
  .strictObject({
    id: IdSchema.describe("Unique device id"),
    host: HostSchema.describe("Address or host name"),
    port: PortSchema.default(22).describe("SSH port"),
    user: z.string().min(1).describe("SSH user (needs nvidia-smi, and the right to set power limits)"),
    privateKeyFile: FileSchema.describe("SSH private key (env: WATTKEEPER_GPU_NODES_<i>_PRIVATE_KEY)"),
    hostKeySha256: optNull(
      z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/, {
        error: (iss) =>
          `expected "SHA256:" and 43 base64 characters, unpadded (as ssh-keygen -lf prints), got ${show(iss.input)}`,
      }),
    ).describe("Pinned host key fingerprint (or knownHostsFile)"),
    knownHostsFile: optNull(FileSchema).describe(
      "known_hosts file holding the node's key (or hostKeySha256)",
    ),
    floorW: power().describe(`Lowest per-GPU power limit the loop may set; ${POWER_HELP}`),
    location: optNull(LocationSchema),
    priority: PrioritySchema,
  })
  .superRefine((g, ctx) => {
    if ((g.hostKeySha256 === null) === (g.knownHostsFile === null)) {
      ctx.issues.push({
        code: "custom",
        path: [g.hostKeySha256 === null ? "hostKeySha256" : "knownHostsFile"],
        message:
          g.hostKeySha256 === null
            ? "give hostKeySha256 or knownHostsFile: host keys are pinned"
            : "give hostKeySha256 or knownHostsFile, not both",
        input: g,
      });
    }
  })
  .describe("An AI node whose GPUs are read and capped with nvidia-smi over SSH");

// ---------------------------------------------------------------- control

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
const TIME_RE = /^([01]\d|2[0-3]):([0-5]\d)$/;
const TimeSchema = z.string().regex(TIME_RE, {
  error: (iss) => `expected a time "HH:MM" from 00:00 to 23:59, got ${show(iss.input)}`,
});

function minuteOfDay(t: string): number {
  const [h, m] = t.split(":");
  return Number(h) * 60 + Number(m);
}

export const ScheduleWindowSchema = z
  .strictObject({
    name: z.string().min(1).describe("Shown as the budget's reason while the window is active"),
    months: z
      .array(z.number().int().min(1).max(12))
      .min(1)
      .default([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
      .describe("Months 1–12 (default: all)"),
    days: z
      .array(z.enum(DAYS))
      .min(1)
      .default([...DAYS])
      .describe("Days mon..sun (default: all)"),
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

export const EconomicsSchema = z
  .strictObject({
    hashpricePerThDay: optNull(z.number().min(0)).describe("Fixed hashprice, ¤ per TH/s per day"),
    hashpriceTopic: optNull(z.string().min(1)).describe("MQTT topic holding the hashprice (retained)"),
    energyPricePerKwh: optNull(z.number()).describe("Fixed energy price, ¤ per kWh (may be negative)"),
    energyPriceTopic: optNull(z.string().min(1)).describe(
      "MQTT topic holding the energy price, ¤/kWh (retained)",
    ),
  })
  .superRefine((e, ctx) => {
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
    restoreStaggerS: durationDefault(10).describe("Wake batches are at least this far apart"),
    meterStaleS: durationDefault(10, { positive: true }).describe(
      "A site meter reading older than this is stale (fail-safe); must exceed tickS",
    ),
    unmeteredW: powerDefault(0).describe("Load no device reports (lights, cooling), added to estimates"),
    failsafeBudgetW: optNull(power()).describe(
      "Budget when neither the meter nor device reports give P (default: half of contractLimitW)",
    ),
    strategy: z
      .enum(["sleep", "power-limit-then-sleep"])
      .default("sleep")
      .describe("sleep whole miners, or lower power limits first where the dialect can"),
    retries: z
      .number()
      .int()
      .min(0)
      .max(10)
      .default(3)
      .describe("Attempts per action before it is marked failed"),
    schedule: z.array(ScheduleWindowSchema).default([]).describe("Scheduled budget windows"),
    economics: optNull(EconomicsSchema),
  })
  .describe("The control loop; every key has a default");

// ---------------------------------------------------------------- sim and log

export const SimSchema = z
  .strictObject({
    seed: z.number().int().default(1).describe("Random seed: the same seed gives the same site"),
    noiseW: powerDefault(500).describe("Meter noise amplitude"),
    auxW: powerDefault("20kW").describe("Constant auxiliary site load (cooling, lights)"),
    models: optNull(z.array(z.string().min(1)).min(1)).describe(
      "Miner model names to cycle through (default: the simulator's mix)",
    ),
  })
  .describe(
    "Present = `wattkeeper run` starts the embedded simulated site, serving the configured loopback miners and meters",
  );

export const LogSchema = z
  .strictObject({
    level: z.enum(["fatal", "error", "warn", "info", "debug", "trace"]).default("info").describe("Log level"),
  })
  .describe("Logging");

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
    control: ControlSchema.prefault({}),
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

/** What a file may contain (unit strings, optional keys). */
export type ConfigInput = z.input<typeof ConfigSchema>;
/** The schema's output: units in watts and seconds, defaults applied, not yet expanded. */
export type ParsedConfig = z.output<typeof ConfigSchema>;

type SecretValues<T> = { [K in keyof T as K extends `${infer B}File` ? B : never]: string | null };
/**
 * T with every `fooFile` key (kept, as an absolute path) joined by `foo`: the file's
 * content, or the WATTKEEPER_* environment variable that overrides it.
 */
export type WithSecrets<T> = T extends readonly (infer U)[]
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
export type ControlConfig = Omit<ParsedConfig["control"], "failsafeBudgetW"> & { failsafeBudgetW: number };
export type ScheduleWindow = z.output<typeof ScheduleWindowSchema>;
export type SimConfig = z.output<typeof SimSchema>;

/** The resolved config loadConfig returns. */
export type SiteConfig = Omit<
  ParsedConfig,
  "site" | "miners" | "meters" | "gpuNodes" | "control" | "mqtt" | "store"
> & {
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
