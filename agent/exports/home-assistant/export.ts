// The Home Assistant export (exports.homeAssistant): a session of its own on
// the site's broker that publishes retained discovery configs and states.
// Availability is the site's own status topic, so entities go unavailable when
// the agent's link dies (its will). At each connect it first reads back the
// retained configs this site made before (its node id is in their topics) and
// clears the ones the config no longer has: a GPU node removed and reloaded
// takes its entities with it. Commands (a mode select, a lease number) exist
// only with acceptCommands, and act through the site's intents.
import { hostname } from "node:os";
import { z } from "zod";
import type { HomeAssistantConfig, MqttConfig } from "../../../config/schema.ts";
import type { Actor } from "../../control/intents.ts";
import { MqttLink } from "../../mqtt/link.ts";
import { Topics } from "../../mqtt/topics.ts";
import type { ExportOptions, ExportSite, RunningExport } from "../types.ts";
import {
  commandTopics,
  discoveryEntities,
  type HaContext,
  type HaEntity,
  nodeId,
  statePayloads,
} from "./discovery.ts";

/** How long after a connect the retained configs of earlier runs are gathered before the new set goes out. */
const GATHER_MS = 1500;
/** A state topic is republished at most this often, and at least this often while unchanged (HA's "last seen"). */
const MIN_STATE_INTERVAL_MS = 5000;
const REFRESH_STATE_MS = 300_000;
/** A lease set from Home Assistant lasts this long; the number is set again to renew it. */
const HA_LEASE_TTL_S = 3600;

const ModeCommand = z.enum(["auto", "hold"]);
const LeaseKwCommand = z.coerce.number().finite().min(0);

export function startHomeAssistant(site: ExportSite, opts: ExportOptions): RunningExport | null {
  const cfg = site.config.exports?.homeAssistant;
  const mqtt = site.config.mqtt;
  if (!cfg) return null;
  if (!mqtt) throw new Error("exports.homeAssistant needs the mqtt section");
  const session = new HomeAssistantSession(site, cfg, mqtt, opts);
  session.start();
  return session;
}

class HomeAssistantSession implements RunningExport {
  private readonly ctx: HaContext;
  private readonly link: MqttLink;
  private readonly log: ExportOptions["logger"];
  private readonly discoveryFilter: string;
  /** Discovery topics seen retained on the broker since the last connect (earlier runs' entities). */
  private readonly seen = new Set<string>();
  private gathering = false;
  private gatherTimer: NodeJS.Timeout | null = null;
  private published = new Map<string, { json: string; at: number }>();
  private entities: HaEntity[] = [];
  private unsubTick: (() => void) | null = null;
  private readonly actor: Actor = { via: "homeassistant", who: "home-assistant" };

  constructor(
    private readonly site: ExportSite,
    cfg: HomeAssistantConfig,
    mqtt: MqttConfig,
    opts: ExportOptions,
  ) {
    const topics = new Topics(mqtt.topicRoot, site.config.site.id);
    this.ctx = {
      siteId: site.config.site.id,
      siteName: site.config.site.name,
      base: topics.base,
      statusTopic: topics.status,
      discoveryPrefix: cfg.discoveryPrefix,
      version: opts.version,
      contractLimitW: site.config.site.contractLimitW,
      minerGroups: cfg.minerGroups,
      acceptCommands: cfg.acceptCommands,
    };
    this.log = opts.logger;
    this.discoveryFilter = `${cfg.discoveryPrefix}/+/${nodeId(this.ctx.siteId)}/+/config`;
    if (cfg.acceptCommands) {
      this.log.warn(
        { broker: mqtt.url },
        "Home Assistant commands are on: they are not signed, so anyone who may publish on this broker can set the mode and budget leases; keep it a local broker with ACLs",
      );
    }
    this.link = new MqttLink({
      url: mqtt.url,
      protocolVersion: mqtt.protocolVersion,
      clientId: `wattkeeper-ha-${this.ctx.siteId}-${hostname()}`.slice(0, 64),
      username: mqtt.username,
      password: mqtt.password,
      ca: mqtt.ca,
      cert: mqtt.cert,
      key: mqtt.key,
      will: null, // availability is the site's status topic, whose will the site's own link carries
      subscriptions: () => [
        this.discoveryFilter,
        ...(cfg.acceptCommands
          ? [commandTopics.mode(this.ctx.base), commandTopics.leaseKw(this.ctx.base)]
          : []),
      ],
      onConnect: () => this.onConnect(),
      onMessage: (topic, payload, packet) => this.onMessage(topic, payload, packet.retain),
      logger: this.log,
    });
  }

  start(): void {
    this.link.start();
    this.unsubTick = this.site.onTick(() => this.publishStates(false));
  }

  async stop(): Promise<void> {
    this.unsubTick?.();
    this.unsubTick = null;
    if (this.gatherTimer) clearTimeout(this.gatherTimer);
    await this.link.stop();
  }

  private onConnect(): void {
    // gather what earlier runs left retained, then publish the set this config has
    this.seen.clear();
    this.gathering = true;
    this.published.clear();
    if (this.gatherTimer) clearTimeout(this.gatherTimer);
    this.gatherTimer = setTimeout(() => {
      this.gathering = false;
      void this.publishDiscovery();
    }, GATHER_MS);
  }

  private onMessage(topic: string, payload: Buffer, retained: boolean): void {
    if (topic.endsWith("/config")) {
      if (this.gathering && retained && payload.length > 0) this.seen.add(topic);
      return;
    }
    if (topic === commandTopics.mode(this.ctx.base)) this.command("mode", payload);
    else if (topic === commandTopics.leaseKw(this.ctx.base)) this.command("lease_kw", payload);
  }

  private async publishDiscovery(): Promise<void> {
    this.entities = discoveryEntities(this.ctx, this.site.devicesView());
    const current = new Set(this.entities.map((e) => e.topic));
    const removed = [...this.seen].filter((t) => !current.has(t));
    const sends = [
      ...this.entities.map((e) =>
        this.link.publish(e.topic, JSON.stringify(e.config), { qos: 1, retain: true }),
      ),
      // an empty retained config removes the entity in Home Assistant (and the retained message)
      ...removed.map((t) => this.link.publish(t, "", { qos: 1, retain: true })),
    ];
    const results = await Promise.allSettled(sends);
    const failed = results.filter((r) => r.status === "rejected").length;
    this.log.info(
      { entities: this.entities.length, removed: removed.length, failed },
      `Home Assistant discovery: ${this.entities.length} entities published${removed.length > 0 ? `, ${removed.length} of an earlier config removed` : ""}`,
    );
    this.publishStates(true);
  }

  private publishStates(force: boolean): void {
    if (!this.link.connected || this.gathering || this.entities.length === 0) return;
    const view = this.site.siteView();
    const states = statePayloads({
      ctx: this.ctx,
      site: view,
      devices: this.site.devicesView(),
      leaseW: view.lease?.watts ?? null,
    });
    const now = Date.now();
    for (const [topic, state] of states) {
      const json = JSON.stringify(state);
      const last = this.published.get(topic);
      const due =
        force ||
        !last ||
        (last.json !== json && now - last.at >= MIN_STATE_INTERVAL_MS) ||
        now - last.at >= REFRESH_STATE_MS;
      if (!due) continue;
      this.published.set(topic, { json, at: now });
      this.link.publish(topic, json, { qos: 0, retain: true }).catch((err: Error) => {
        this.log.debug({ err, topic }, "state not published");
      });
    }
  }

  private command(kind: "mode" | "lease_kw", payload: Buffer): void {
    const text = payload.toString("utf8").trim();
    if (kind === "mode") {
      const mode = ModeCommand.safeParse(text);
      if (!mode.success) {
        this.log.warn({ payload: text.slice(0, 40) }, "Home Assistant mode refused: expected auto or hold");
        return;
      }
      const r = this.site.setMode(mode.data, this.actor);
      if (!r.ok) this.log.warn({ error: r.error }, "Home Assistant mode refused");
    } else {
      const kw = LeaseKwCommand.safeParse(text);
      if (!kw.success) {
        this.log.warn({ payload: text.slice(0, 40) }, "Home Assistant lease refused: expected kW ≥ 0");
        return;
      }
      const watts = Math.round(kw.data * 1000);
      // the contract or more is no cap at all: the lease ends
      if (watts >= this.ctx.contractLimitW) this.site.clearBudgetLease(this.actor);
      else this.site.setBudgetLease({ watts, ttlS: HA_LEASE_TTL_S, reason: "Home Assistant" }, this.actor);
    }
    this.publishStates(true);
  }
}
