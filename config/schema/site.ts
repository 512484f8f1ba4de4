// Schemas for the sections about the site and the agent process itself: who
// and where the site is, the local status page and its operators, the state
// store, the embedded simulator and logging.
import { z } from "zod";
import {
  DURATION_HELP,
  duration,
  durationDefault,
  FileSchema,
  hostPort,
  optNull,
  POWER_HELP,
  power,
  powerDefault,
  show,
} from "./fields.ts";

// ---------------------------------------------------------------- site

// The canonical zone names, listed without building a formatter: a DateTimeFormat makes V8 read
// ICU's locale data (about 8 MiB resident for the life of the process), and a site with no
// schedule window never needs one. An alias ("Etc/UTC", "Asia/Kolkata") still gets the full check.
let canonicalZones: ReadonlySet<string> | null = null;

function isTimeZone(tz: string): boolean {
  canonicalZones ??= new Set(Intl.supportedValuesOf("timeZone"));
  if (tz === "UTC" || canonicalZones.has(tz)) return true;
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
    contractLimitW: power().describe(
      `The site's contracted import limit (the static budget); 0 = zero import (generation behind the meter: mine on the surplus); ${POWER_HELP}`,
    ),
  })
  .describe("Who and where the site is");

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

const HttpLimitsSchema = z
  .strictObject({
    maxConnections: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(1024)
      .describe(
        "Open HTTP connections in all; lowered at start so that device I/O keeps its file descriptors (half of what the open-file limit leaves after the devices' share). Over the cap a new connection is closed at once, unless an address holding more gives up its oldest idle one",
      ),
    maxConnectionsPerAddress: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(32)
      .describe("Open HTTP connections per client address (IPv6: per /64); more are closed at once"),
    headersTimeoutS: durationDefault(10, { positive: true, max: 300 }).describe(
      `A request's headers must arrive within this (checked every second); ${DURATION_HELP}`,
    ),
    requestTimeoutS: durationDefault(30, { positive: true, max: 600 }).describe(
      `A whole request (headers and body) must arrive within this; the answer may take longer (an operator action waits for the miner); ${DURATION_HELP}`,
    ),
    keepAliveTimeoutS: durationDefault(5, { positive: true, max: 300 }).describe(
      `An idle kept-alive connection is closed after this; ${DURATION_HELP}`,
    ),
    maxRequestsPerSocket: z
      .number()
      .int()
      .min(1)
      .default(1000)
      .describe("Requests on one kept-alive connection before it is closed"),
    maxSseStreams: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(32)
      .describe(
        "Live-update streams (/api/stream) in all; when full, the oldest stream of the address holding the most gives way to a new address",
      ),
    maxSseStreamsPerAddress: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(4)
      .describe("Live-update streams per client address; a new one closes that address's oldest"),
  })
  .superRefine((l, ctx) => {
    if (l.requestTimeoutS < l.headersTimeoutS) {
      ctx.issues.push({
        code: "custom",
        path: ["requestTimeoutS"],
        message: `must be at least headersTimeoutS (${l.headersTimeoutS} s): the request includes its headers`,
        input: l.requestTimeoutS,
      });
    }
    if (l.maxConnectionsPerAddress <= l.maxSseStreamsPerAddress) {
      ctx.issues.push({
        code: "custom",
        path: ["maxConnectionsPerAddress"],
        message: `must be greater than maxSseStreamsPerAddress (${l.maxSseStreamsPerAddress}): a page needs connections besides its streams`,
        input: l.maxConnectionsPerAddress,
      });
    }
  })
  .describe("Resource limits of the HTTP endpoint (a LAN host must not be able to exhaust the agent)");

export type HttpLimits = z.output<typeof HttpLimitsSchema>;

const HttpTlsSchema = z
  .union([
    z.strictObject({
      certFile: FileSchema.describe("PEM certificate (chain) the page is served with"),
      keyFile: FileSchema.describe("PEM private key of the certificate"),
    }),
    z.strictObject({
      selfSigned: z
        .literal(true)
        .describe(
          "Make a self-signed certificate once in the state directory (with openssl) and keep it; its SHA-256 fingerprint is logged at every start",
        ),
    }),
  ])
  .describe(
    "HTTPS for the page and API: a certificate and key, or selfSigned: true. The session cookie is Secure then",
  );

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
    limits: HttpLimitsSchema.prefault({}),
    tls: optNull(HttpTlsSchema),
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

// ---------------------------------------------------------------- polling

/** A miner's detail (temperatures, fans, boards, pools) is read this many miner polls apart unless set. */
export const DEFAULT_MINER_DETAIL_POLLS = 6;

export const PollingSchema = z
  .strictObject({
    minersS: durationDefault(5, { min: 0.5, max: 600 }).describe(
      `Miner sweep period: the essentials control acts on (summary: state, hashrate, power) are read this often; ${DURATION_HELP}`,
    ),
    minerDetailS: optNull(duration({ min: 0.5, max: 3600 })).describe(
      `How often a miner's detail is read too (stats, pools, devs: temperatures, fans, boards, pools); between, they keep their last values, shown with their age. At least minersS; default ${DEFAULT_MINER_DETAIL_POLLS} × minersS; ${DURATION_HELP}`,
    ),
    metersS: durationDefault(1, { min: 0.1, max: 60 }).describe(`Meter read period; ${DURATION_HELP}`),
    gpuNodesS: durationDefault(10, { min: 0.5, max: 600 }).describe(
      `GPU node read period (one nvidia-smi run per node); AI swing absorption (control.aiStepW) sees AI steps this often; ${DURATION_HELP}`,
    ),
  })
  .superRefine((p, ctx) => {
    if (p.minerDetailS !== null && p.minerDetailS < p.minersS) {
      ctx.addIssue({
        code: "custom",
        path: ["minerDetailS"],
        message: `must be at least polling.minersS (${p.minerDetailS} s < ${p.minersS} s): the detail rides on a miner poll`,
      });
    }
  })
  .describe("How often each kind of device is read");

// ---------------------------------------------------------------- sim and log

export const SimSchema = z
  .strictObject({
    seed: z.number().int().default(1).describe("Random seed: the same seed gives the same site"),
    noiseW: powerDefault(500).describe("Meter noise amplitude"),
    auxW: powerDefault("20kW").describe("Constant auxiliary site load (cooling, lights)"),
    models: optNull(z.array(z.string().min(1)).min(1)).describe(
      "Miner model names to cycle through (default: the simulator's mix)",
    ),
    gpuNodes: z
      .number()
      .int()
      .min(0)
      .max(64)
      .default(0)
      .describe(
        "Simulated AI nodes (8 GPUs each, nvidia-smi over SSH on loopback) added to the site when the config lists no gpuNodes of its own",
      ),
    generation: optNull(
      z.strictObject({
        peakW: power({ positive: true }).describe(`Clear-sky output; ${POWER_HELP}`),
        cloudDepth: z.number().min(0).max(1).default(0.6).describe("Largest share of peakW one cloud takes"),
        cloudEveryS: durationDefault(40, { positive: true }).describe("Mean clear time between clouds"),
        cloudS: durationDefault(15, { positive: true }).describe("Mean time a cloud covers the array"),
        edgeS: durationDefault(5, { positive: true }).describe(
          "Time a cloud's edge takes to cross the array",
        ),
      }),
    ).describe(
      "Solar behind the site meter, with passing clouds: the site meter reads the net (negative = export); with contractLimitW: 0 the site mines on the surplus",
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
