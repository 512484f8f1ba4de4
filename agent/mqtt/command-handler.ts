// The MQTT channel's inbound side: signed commands (checked, dispatched to the
// site's intents, audited when refused, answered on the response topics) and
// the economics prices. Apart from channel.ts (connection and lifecycle) and
// publisher.ts (outbound): what arrives from outside is judged here, in one place.
import type { KeyObject } from "node:crypto";
import type { IPublishPacket } from "mqtt";
import type { MqttConfig } from "../../config/schema.ts";
import type { Actor } from "../control/intents.ts";
import type { Logger } from "../runtime/logger.ts";
import { commandsTotal } from "../runtime/metrics.ts";
import { type Checked, checkCommand, dispatch } from "./commands.ts";
import type { CommandResponse } from "./payloads.ts";
import { parsePrice } from "./prices.ts";
import type { MqttPublisher } from "./publisher.ts";
import type { ReplayCache } from "./replay.ts";
import { isCommandName, type Topic, type Topics } from "./topics.ts";
import type { ChannelSite } from "./types.ts";

export interface CommandHandlerOptions {
  site: ChannelSite;
  cfg: MqttConfig;
  topics: Topics;
  logger: Logger;
  keys: ReadonlyMap<string, KeyObject>;
  publisher: MqttPublisher;
  /** The replay cache, while the channel is open. */
  replay: () => ReplayCache | null;
}

export class CommandHandler {
  constructor(private readonly o: CommandHandlerOptions) {}

  /**
   * A price is an input from outside like a command: read (signed where the
   * config asks), then judged by the site's bounds and age rules; a refusal is
   * logged here and alarmed by the site.
   */
  price(field: "energyPricePerKwh" | "hashpricePerThDay", topic: string, payload: Buffer): void {
    const { site, logger: log } = this.o;
    const p = parsePrice(payload, {
      topic,
      keys: this.o.keys,
      requireSigned: site.config.control.economics?.signedPrices ?? false,
    });
    if ("error" in p) {
      log.warn({ topic, code: p.code }, `${field}: refused, ${p.error}`);
      site.refusePrice(field, { code: p.code, error: p.error }, topic);
      return;
    }
    const refusal = site.offerPrice(field, {
      value: p.value,
      issuedAt: p.issuedAt,
      source: topic,
      keyName: p.keyName,
    });
    if (refusal !== null) {
      log.warn({ topic, value: p.value }, `${field}: refused, ${refusal}`);
      return;
    }
    log.info({ topic, value: p.value }, p.value === null ? `${field} cleared` : `${field} set`);
  }

  async command(name: string, raw: Buffer, packet: IPublishPacket): Promise<void> {
    const { site, cfg, logger: log } = this.o;
    const replay = this.o.replay();
    if (!replay) return;
    const c = checkCommand(name, raw, {
      siteId: site.config.site.id,
      keys: this.o.keys,
      skewS: cfg.commandSkewS,
      maxBytes: cfg.maxCommandBytes,
      replay,
    });
    const label = isCommandName(name) ? name : "unknown";
    if (!c.ok) {
      commandsTotal.inc({ name: label, result: `rejected:${c.code}` });
      this.auditRefusal(name, raw, c);
      log.warn(
        { command: name.slice(0, 64), id: c.id, keyName: c.keyName, reason: c.code },
        `command refused: ${c.error}`,
      );
      await this.respond(name, packet, { id: c.id, name, ok: false, error: c.error });
      return;
    }
    const actor: Actor = { via: "mqtt", who: c.envelope.keyName, ref: c.envelope.id };
    const r = await dispatch(site, c, actor).catch((err: unknown) => ({
      ok: false as const,
      error: err instanceof Error ? err.message : String(err),
    }));
    if (c.name === "ping") {
      // the Site audits its intents; ping is not one
      commandsTotal.inc({ name: "ping", result: "ok" });
      site.audit?.append({
        at: Date.now(),
        via: "mqtt",
        who: actor.who,
        action: "ping",
        body: c.body,
        ok: true,
        ref: actor.ref,
      });
    }
    log.info(
      { command: c.name, id: c.envelope.id, keyName: actor.who, ok: r.ok },
      `command ${c.name} ${r.ok ? "applied" : "failed"}`,
    );
    await this.respond(
      name,
      packet,
      r.ok
        ? {
            id: c.envelope.id,
            name,
            ok: true,
            appliedAt: new Date().toISOString(),
            ...(r.detail ? { detail: r.detail } : {}),
          }
        : { id: c.envelope.id, name, ok: false, error: r.error },
    );
  }

  private auditRefusal(name: string, raw: Buffer, c: Extract<Checked, { ok: false }>): void {
    let body: unknown = { bytes: raw.length };
    if (c.code !== "oversized") {
      try {
        body = JSON.parse(raw.toString("utf8"));
      } catch {
        body = { bytes: raw.length, head: raw.toString("utf8", 0, 128) };
      }
    }
    try {
      // aggregated per key name, command, reason and minute (store/audit.ts): a flood of forged
      // commands costs a row a minute, not a row each; the first one's body is the sample
      const who = c.keyName ?? "anonymous";
      this.o.site.audit?.append({
        at: Date.now(),
        via: "mqtt",
        who,
        action: isCommandName(name) ? name : "unknown",
        body: isCommandName(name) ? body : { name: name.slice(0, 64), body },
        ok: false,
        error: c.error,
        ref: c.id,
        source: who,
        reason: c.code,
      });
    } catch (err) {
      this.o.logger.error({ err }, "audit write failed");
    }
  }

  /**
   * A requester chooses the MQTT 5 response topic, possibly without a valid
   * signature: never let it make the agent publish on its own status,
   * telemetry, state or events topics.
   */
  private responseTopicAllowed(rt: string): boolean {
    if (rt.length > 512 || /[#+]/.test(rt)) return false;
    const base = `${this.o.topics.base}/`;
    return !rt.startsWith(base) || rt.startsWith(`${base}response/`);
  }

  /** The response on …/response/<name>, and on the MQTT 5 response topic with its correlation data. */
  private async respond(name: string, packet: IPublishPacket, body: CommandResponse): Promise<void> {
    const { publisher } = this.o;
    if (!publisher.link?.connected) return;
    const main = this.o.topics.response(name);
    const sends = [publisher.publish(main, body, { qos: 1 })];
    const rt = packet.properties?.responseTopic;
    if (this.o.cfg.protocolVersion === 5 && rt && rt !== main && this.responseTopicAllowed(rt)) {
      const properties = packet.properties?.correlationData
        ? { correlationData: packet.properties.correlationData }
        : {};
      // the requester's own topic, checked above: it carries a response
      sends.push(publisher.publish(rt as Topic<"response">, body, { qos: 1, properties }));
    }
    const r = await Promise.allSettled(sends);
    for (const x of r)
      if (x.status === "rejected")
        this.o.logger.warn({ err: x.reason, command: name }, "response not published");
  }
}
