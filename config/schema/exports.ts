// Schema of the exports section: standard bindings for the systems operators
// already run. Sparkplug B (an edge node for SCADA / Ignition) and Home
// Assistant MQTT discovery. Both are off unless their key is present, both
// need the mqtt section, and neither accepts commands unless told to.
import { z } from "zod";
import { optNull, show } from "./fields.ts";
import { ownBrokerFields } from "./mqtt.ts";

/** A Sparkplug id element: no "/", "+", "#" (they are topic levels and wildcards). */
const SparkplugIdSchema = z.string().refine((s) => s.length > 0 && !/[/+#]/.test(s), {
  error: (iss) => `expected a Sparkplug id without "/", "+" or "#", got ${show(iss.input)}`,
});

const SparkplugSchema = z
  .strictObject({
    groupId: SparkplugIdSchema.default("wattkeeper").describe("Sparkplug group id"),
    edgeNodeId: optNull(SparkplugIdSchema).describe("Edge node id (default: site.id)"),
    primaryHostId: optNull(SparkplugIdSchema).describe(
      "The primary host application whose STATE topic the node follows: births only while it is online (null: publish regardless)",
    ),
    acceptCommands: z
      .boolean()
      .default(false)
      .describe(
        "Take NCMD/DCMD writes (mapped onto the same intents as the page and MQTT: lease, mode, device action; audited). Off: refused",
      ),
    reportByExceptionW: z
      .number()
      .min(0)
      .default(0)
      .describe(
        "A power metric is republished only when it moves by more than this many watts (0: any change)",
      ),
    ...ownBrokerFields({
      url: "A broker of its own (the SCADA's); null = the site's mqtt broker, with a session of its own",
      username: "User on that broker",
      passwordFile: "Password on that broker (env: WATTKEEPER_EXPORTS_SPARKPLUG_PASSWORD)",
      caFile: "PEM CA bundle for that broker",
    }),
  })
  .describe("Sparkplug B edge node (spBv1.0): NBIRTH/NDEATH, DBIRTH/DDATA per device");

const HomeAssistantSchema = z
  .strictObject({
    discoveryPrefix: z
      .string()
      .refine((t) => t.length > 0 && !/[#+]/.test(t) && !t.startsWith("/") && !t.endsWith("/"), {
        error: (iss) => `expected a topic prefix without wildcards, got ${show(iss.input)}`,
      })
      .default("homeassistant")
      .describe("Home Assistant's MQTT discovery prefix"),
    minerGroups: z
      .boolean()
      .default(true)
      .describe("A device per miner location (container) with its power and counts"),
    acceptCommands: z
      .boolean()
      .default(false)
      .describe(
        "Offer a mode select and a budget lease number (local broker only: they act through the site's intents, audited)",
      ),
  })
  .describe("Home Assistant MQTT discovery on the site's broker");

export const ExportsSchema = z
  .strictObject({
    sparkplug: optNull(SparkplugSchema),
    homeAssistant: optNull(HomeAssistantSchema),
  })
  .describe("Standard bindings: Sparkplug B for SCADA, Home Assistant discovery (need mqtt)");
