// Schema of the mqtt section: the link to the central broker, its TLS files,
// the topic root, and the keys allowed to sign remote commands.
import { z } from "zod";
import { durationDefault, FileSchema, optNull, show } from "./fields.ts";

const MQTT_SCHEMES = ["mqtt:", "mqtts:", "ws:", "wss:"];

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
