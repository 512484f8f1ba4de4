// Schemas of the devices the loop controls: ASIC miners (one host or a range
// sharing settings, with write-API credentials) and AI GPU nodes reached over SSH.
import { z } from "zod";
import { DialectSchema } from "../../drivers/types.ts";
import { countHosts } from "../hosts.ts";
import {
  DURATION_HELP,
  durationDefault,
  FileSchema,
  HostSchema,
  IdSchema,
  LocationSchema,
  optNull,
  POWER_HELP,
  PortSchema,
  PrioritySchema,
  power,
  show,
} from "./fields.ts";

// ---------------------------------------------------------------- miners

/** A regular expression given as text: refused at load when it does not compile. */
const RegexSchema = z
  .string()
  .min(1)
  .superRefine((src, ctx) => {
    try {
      new RegExp(src);
    } catch (e) {
      ctx.issues.push({
        code: "custom",
        message: `not a valid regular expression: ${(e as Error).message}`,
        input: src,
      });
    }
  });

const PoolPolicySchema = z
  .strictObject({
    allow: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe('Pool URLs the miner may mine on, e.g. "stratum+tcp://pool.example.net:3333"'),
    workerPattern: RegexSchema.optional().describe(
      'A regular expression every pool user (worker) must match, e.g. "^odessa1\\."',
    ),
  })
  .describe("What the miner's pools must be: the status page lists a miner on another pool or worker");

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

const CredentialsSchema = z
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
    webPort: PortSchema.optional().describe(
      "Web/REST API port, when not the firmware's default (80; the stock Antminer CGI, VNish, AxeOS…)",
    ),
    grpcPort: PortSchema.default(50051).describe("Braiins OS gRPC API port (power target)"),
    dialect: DialectSchema.default("auto").describe("auto detects; or name the firmware's API"),
    location: optNull(LocationSchema),
    priority: PrioritySchema,
    nominalW: optNull(power()).describe(
      `Nameplate power, for estimates when the miner reports none; ${POWER_HELP}`,
    ),
    credentials: optNull(CredentialsSchema),
    pools: optNull(PoolPolicySchema),
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

/** One shell command line (from the config only, never from MQTT): no newline, no NUL. */
const CommandLineSchema = z
  .string()
  .trim()
  .min(1, { error: "expected a command, got an empty string" })
  .max(1000)
  .refine((c) => !/[\n\r\0]/.test(c), { error: "must be one line (no newline or NUL)" });

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
    priority: PrioritySchema.describe("Within a flex tier, lower priority is capped first"),
    flex: z
      .enum(["firm", "cap", "drain"])
      .default("firm")
      .describe(
        "firm: capped only as the last resort, when no miner is left to shed; cap: may be capped as soon as no miner can be slept now (miners held by minOnS), before firm nodes; drain: as cap, but the drain command runs first (and the resume command once every cap is lifted)",
      ),
    drainCommand: optNull(CommandLineSchema).describe(
      'flex: drain: run over this node\'s SSH connection before its first cap, e.g. "sudo scontrol update nodename=gpu-a state=drain reason=wattkeeper" or "kubectl cordon gpu-a"; output kept in the audit log',
    ),
    resumeCommand: optNull(CommandLineSchema).describe(
      'flex: drain: run once every cap is lifted, e.g. "sudo scontrol update nodename=gpu-a state=resume" or "kubectl uncordon gpu-a"',
    ),
    lockClocksMHz: optNull(z.number().int().min(100).max(5000)).describe(
      "Cap this node by locking its SM clocks at this ceiling (nvidia-smi -lgc 0,MHz; reset with -rgc when restored) instead of lowering power limits",
    ),
    commandTimeoutS: durationDefault(30, { positive: true, max: 600 }).describe(
      `Deadline of the drain and resume commands; ${DURATION_HELP}`,
    ),
  })
  .superRefine((g, ctx) => {
    for (const key of ["drainCommand", "resumeCommand"] as const) {
      if ((g.flex === "drain") !== (g[key] !== null)) {
        ctx.issues.push({
          code: "custom",
          path: [key],
          message:
            g.flex === "drain" ? `flex: drain needs ${key}` : `${key} is given but flex is not "drain"`,
          input: g[key],
        });
      }
    }
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
