// Schema of the mqtt section: the link to the central broker, its TLS files,
// the topic root, and the keys allowed to sign remote commands.
import { z } from "zod";
import { durationDefault, FileSchema, optNull, show } from "./fields.ts";

const MQTT_SCHEMES = ["mqtt:", "mqtts:", "ws:", "wss:"];

/** A deadband after parsing: an absolute amount in the field's unit, or a fraction of the value last sent. */
export type Deadband = { kind: "abs"; value: number } | { kind: "pct"; value: number };

const PCT_RE = /^(\d+(?:\.\d+)?|\.\d+)\s*%$/;

/** A deadband as written: a number in the field's unit (1 = 1 °C) or a percentage of the last sent value ("1%"). */
function deadband(def: number | string) {
  return z
    .union([z.number(), z.string()], {
      error: (iss) => `expected a deadband like 1 or "2%", got ${show(iss.input)}`,
    })
    .default(def)
    .transform((v, ctx): Deadband => {
      if (typeof v === "number") {
        if (Number.isFinite(v) && v >= 0) return { kind: "abs", value: v };
        ctx.issues.push({ code: "custom", message: `must be a number ≥ 0, got ${show(v)}`, input: v });
        return z.NEVER;
      }
      const m = PCT_RE.exec(v.trim());
      const pct = m ? Number(m[1]) : Number.NaN;
      if (!(pct >= 0 && pct <= 100)) {
        ctx.issues.push({
          code: "custom",
          message: `expected a number or a percentage from "0%" to "100%", got ${show(v)}`,
          input: v,
        });
        return z.NEVER;
      }
      return { kind: "pct", value: pct / 100 };
    });
}

export const TelemetrySchema = z
  .strictObject({
    fullEveryS: durationDefault(300).describe(
      "Device telemetry: a full refresh of every device this often (and on connect); in between only what moved beyond its deadband. 0 = a full refresh every poll cycle",
    ),
    deadband: z
      .strictObject({
        powerW: deadband("1%").describe("Power (miners, GPUs, meters): a number in W, or a percentage"),
        hashrateThs: deadband("2%").describe("Miner hashrate: a number in TH/s, or a percentage"),
        tempC: deadband(1).describe("Temperature (miner chip max, GPU): a number in °C, or a percentage"),
        powerLimitW: deadband(0).describe("Power limit (miners, GPUs): 0 = any change is sent"),
        utilPct: deadband(5).describe("GPU utilisation, in percentage points (5 = five points)"),
        ageS: deadband(10).describe("Age of the reading, in s"),
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
