// Schema of the mqtt section: the link to the central broker, its TLS files,
// the topic root, and the keys allowed to sign remote commands.
import { z } from "zod";
import { parseDurationS, parsePowerW } from "../units.ts";
import { durationDefault, FileSchema, optNull, show } from "./fields.ts";

const MQTT_SCHEMES = ["mqtt:", "mqtts:", "ws:", "wss:"];

/** A deadband after parsing: an absolute amount in the field's unit, or a fraction of the value last sent. */
export type Deadband = { kind: "abs"; value: number } | { kind: "pct"; value: number };

const PCT_RE = /^(\d+(?:\.\d+)?|\.\d+)\s*%$/;

/**
 * A deadband as written: a number in the field's unit (1 = 1 °C), a percentage
 * of the value last sent ("1%"), or for a power or a duration that value with
 * its unit ("50W", "30s").
 */
function deadband(def: number | string, unit: "power" | "duration" | null = null) {
  const like = unit === "power" ? '50, "50W"' : unit === "duration" ? '10, "30s"' : "1";
  return z
    .union([z.number(), z.string()], {
      error: (iss) => `expected a deadband like ${like} or "2%", got ${show(iss.input)}`,
    })
    .default(def)
    .transform((v, ctx): Deadband => {
      const fail = (message: string) => {
        ctx.issues.push({ code: "custom", message, input: v });
        return z.NEVER;
      };
      if (typeof v === "string" && v.trim().endsWith("%")) {
        const m = PCT_RE.exec(v.trim());
        const pct = m ? Number(m[1]) : Number.NaN;
        if (!(pct >= 0 && pct <= 100))
          return fail(`expected a percentage from "0%" to "100%", got ${show(v)}`);
        return { kind: "pct", value: pct / 100 };
      }
      let n: number;
      try {
        n =
          typeof v === "number" || unit === null
            ? Number(v)
            : unit === "power"
              ? parsePowerW(v)
              : parseDurationS(v);
      } catch (e) {
        return fail(`${(e as Error).message}, or a percentage like "2%"`);
      }
      if (typeof v === "string" && unit === null && !/^\s*[\d.]+\s*$/.test(v))
        return fail(`expected a number like ${like} or a percentage like "2%", got ${show(v)}`);
      if (!(Number.isFinite(n) && n >= 0)) return fail(`must be a number ≥ 0, got ${show(v)}`);
      return { kind: "abs", value: n };
    });
}

export const TelemetrySchema = z
  .strictObject({
    fullEveryS: durationDefault(300).describe(
      "Device telemetry: a full refresh of every device this often (and on connect); in between only what moved beyond its deadband. 0 = a full refresh every poll cycle",
    ),
    deadband: z
      .strictObject({
        powerW: deadband("1%", "power").describe(
          'Power (miners, GPUs, meters): watts ("50W") or a percentage of the value last sent',
        ),
        hashrateThs: deadband("2%").describe("Miner hashrate: TH/s, or a percentage of the value last sent"),
        tempC: deadband(1).describe("Temperature (miner chip max, GPU): °C, or a percentage"),
        powerLimitW: deadband(0, "power").describe("Power limit (miners, GPUs): 0 = any change is sent"),
        utilPct: deadband(5).describe("GPU utilisation, in percentage points (5 = five points)"),
        ageS: deadband(10, "duration").describe("Age of the reading (a duration, or a percentage)"),
      })
      .prefault({})
      .describe(
        "A field is sent when it moved by more than this since it was last sent; states, roles and flags on any change",
      ),
  })
  .prefault({})
  .describe("Device telemetry by exception (telemetry/devices)");

/** A broker URL (mqtt, mqtts, ws, wss), never with a password in it. */
export const BrokerUrlSchema = z.string().superRefine((u, ctx) => {
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
});

export const MqttSchema = z
  .strictObject({
    url: BrokerUrlSchema.describe("Broker URL: mqtt://, mqtts://, ws:// or wss://"),
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
    telemetry: TelemetrySchema,
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

/**
 * A broker of a section's own beside the site's (a SCADA's, an aggregator's):
 * its URL (null = the site's), user, password file and CA bundle, each with
 * the section's own words.
 */
export function ownBrokerFields(help: {
  url: string;
  username: string;
  passwordFile: string;
  caFile: string;
}) {
  return {
    url: optNull(BrokerUrlSchema).describe(help.url),
    username: optNull(z.string().min(1)).describe(help.username),
    passwordFile: optNull(FileSchema).describe(help.passwordFile),
    caFile: optNull(FileSchema).describe(help.caFile),
  };
}
