// Schemas for the sections about the site and the agent process itself: who
// and where the site is, the local status page and its operators, the state
// store, the embedded simulator and logging.
import { z } from "zod";
import { hostPort, optNull, POWER_HELP, power, powerDefault, show } from "./fields.ts";

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
