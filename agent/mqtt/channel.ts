// The MQTT channel of a site: the connection and its lifecycle (birth and LWT
// on the status topic, subscriptions, start/stop), routing what arrives. What
// it publishes is publisher.ts (telemetry, state, events through the outbox);
// what it takes is command-handler.ts (signed commands, prices). It never
// calls a driver: commands become the Site's intents.
import type { KeyObject } from "node:crypto";
import { hostname } from "node:os";
import type { IPublishPacket } from "mqtt";
import type { MqttConfig } from "../../config/schema.ts";
import type { Logger } from "../runtime/logger.ts";
import { Outbox } from "../store/outbox.ts";
import { CommandHandler } from "./command-handler.ts";
import { MqttLink } from "./link.ts";
import { eventPayload, type StatusPayload } from "./payloads.ts";
import { MqttPublisher } from "./publisher.ts";
import { ReplayCache } from "./replay.ts";
import { parsePublicKey } from "./signing.ts";
import { encodePayload, Topics } from "./topics.ts";
import type { ChannelSite } from "./types.ts";

export interface ChannelOptions {
  logger: Logger;
  version: string;
  startedAt: number;
  /** Largest device telemetry message, bytes. */
  deviceChunkBytes?: number;
  /** Messages per replay batch (each batch awaits its acks, then yields to the event loop). */
  drainBatch?: number;
  backoff?: { baseMs: number; maxMs: number };
  clientId?: string;
  /** The device telemetry's clock (its `at` and when a refresh is due); a bench runs an hour of polls in seconds. */
  clock?: () => number;
}

export type { ChannelSite } from "./types.ts";

const OFFLINE: StatusPayload = { online: false };

export class MqttChannel {
  readonly topics: Topics;
  private readonly log: Logger;
  private link: MqttLink | null = null;
  private replay: ReplayCache | null = null;
  private readonly keys = new Map<string, KeyObject>();
  private readonly unsubs: Array<() => void> = [];
  private unsubEvents: (() => void) | null = null;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly out: MqttPublisher;
  private readonly commands: CommandHandler;

  constructor(
    private readonly site: ChannelSite,
    private readonly cfg: MqttConfig,
    private readonly opts: ChannelOptions,
  ) {
    this.topics = new Topics(cfg.topicRoot, site.config.site.id);
    this.log = opts.logger;
    this.out = new MqttPublisher({
      site,
      cfg,
      topics: this.topics,
      logger: this.log,
      deviceChunkBytes: opts.deviceChunkBytes,
      drainBatch: opts.drainBatch,
      clock: opts.clock,
    });
    this.commands = new CommandHandler({
      site,
      cfg,
      topics: this.topics,
      logger: this.log,
      keys: this.keys,
      publisher: this.out,
      replay: () => this.replay,
    });
  }

  /** Opens the outbox and the replay cache, hooks the site, and starts connecting (it does not wait for the broker). */
  start(): void {
    for (const k of this.cfg.commandKeys) {
      if (!k.publicKey)
        throw new Error(`mqtt.commandKeys: key "${k.name}" has no content (${k.publicKeyFile})`);
      try {
        this.keys.set(k.name, parsePublicKey(k.publicKey));
      } catch (err) {
        throw new Error(`mqtt.commandKeys: key "${k.name}" (${k.publicKeyFile}): ${(err as Error).message}`);
      }
    }
    const path = this.site.config.store.path;
    const outbox = new Outbox(path, this.cfg.outbox.maxMB * 1024 * 1024);
    outbox.open();
    this.out.outbox = outbox;
    this.replay = new ReplayCache(path, this.cfg.commandSkewS);
    this.replay.open();
    this.replay.prune();
    this.unsubs.push(
      this.site.onTick((t) => this.out.onTick(t)),
      this.site.onSweep((d) => this.out.onSweep(d)),
    );
    this.unsubEvents = this.site.onEvent((e) => this.out.queue("event", this.topics.events, eventPayload(e)));
    this.site.setBrokerStatus(() => this.status());
    const t = this.topics;
    this.link = new MqttLink({
      url: this.cfg.url,
      protocolVersion: this.cfg.protocolVersion,
      clientId: this.opts.clientId ?? `wattkeeper-${this.site.config.site.id}-${hostname()}`.slice(0, 64),
      username: this.cfg.username,
      password: this.cfg.password,
      ca: this.cfg.ca,
      cert: this.cfg.cert,
      key: this.cfg.key,
      will: { topic: t.status, payload: encodePayload(t.status, OFFLINE), qos: 1, retain: true },
      subscriptions: () => this.subscriptions(),
      onConnect: () => this.onConnect(),
      onMessage: (topic, payload, packet) => this.onMessage(topic, payload, packet),
      logger: this.log,
      backoff: this.opts.backoff,
    });
    this.out.link = this.link;
    this.link.start();
  }

  /** disconnect() then close(). */
  async stop(): Promise<void> {
    await this.disconnect();
    this.close();
  }

  /**
   * Publishes the offline status, closes the link and waits (a little) for
   * commands in progress. Events still go to the outbox until close(): the
   * site emits some while it stops (its last sweep), and the next start
   * replays them.
   */
  async disconnect(): Promise<void> {
    if (this.out.stopped) return;
    this.out.stopped = true;
    for (const u of this.unsubs.splice(0)) u();
    this.site.setBrokerStatus(null);
    await this.link?.stop({
      topic: this.topics.status,
      payload: encodePayload(this.topics.status, OFFLINE),
      retain: true,
    });
    this.link = null;
    this.out.link = null;
    // a device action may run for its whole deadline: wait a little, not for it
    await Promise.race([
      Promise.allSettled([...this.inflight]),
      new Promise((r) => setTimeout(r, 5000).unref()),
    ]);
  }

  /** Stops taking events and closes the outbox and the replay cache. */
  close(): void {
    this.unsubEvents?.();
    this.unsubEvents = null;
    this.out.outbox?.close();
    this.out.outbox = null;
    this.replay?.close();
    this.replay = null;
  }

  status() {
    const outbox = this.out.outbox;
    return {
      connected: this.link?.connected ?? false,
      outboxMessages: outbox?.messages ?? 0,
      outboxBytes: outbox?.sizeBytes ?? 0,
      outboxDropped: outbox?.dropped ?? 0,
      url: this.cfg.url,
      since: new Date(this.link?.since ?? Date.now()).toISOString(),
      error: this.link?.connected ? null : (this.link?.error ?? null),
      published: this.out.published,
      publishedBytes: this.out.publishedBytes,
    };
  }

  private subscriptions(): string[] {
    const subs = this.keys.size > 0 ? [this.topics.requestFilter] : [];
    const e = this.site.config.control.economics;
    if (e?.energyPriceTopic) subs.push(e.energyPriceTopic);
    if (e?.hashpriceTopic) subs.push(e.hashpriceTopic);
    subs.push(...this.site.signalTopics);
    return subs;
  }

  private onConnect(): void {
    if (!this.link) return;
    const birth: StatusPayload = {
      online: true,
      version: this.opts.version,
      startedAt: new Date(this.opts.startedAt).toISOString(),
    };
    this.out.publish(this.topics.status, birth, { qos: 1, retain: true }).catch(() => undefined);
    this.out.connected();
  }

  private onMessage(topic: string, payload: Buffer, packet: IPublishPacket): void {
    const name = this.topics.commandOf(topic);
    if (name !== null) {
      const p = this.commands
        .command(name, payload, packet)
        .catch((err) => this.log.error({ err, command: name }, "command handling failed"));
      this.inflight.add(p);
      void p.finally(() => this.inflight.delete(p));
      return;
    }
    if (this.site.signalTopics.includes(topic)) this.site.signalMessage(topic, payload);
    const e = this.site.config.control.economics;
    if (e?.energyPriceTopic === topic) this.commands.price("energyPricePerKwh", topic, payload);
    if (e?.hashpriceTopic === topic) this.commands.price("hashpricePerThDay", topic, payload);
  }
}
