// The Sparkplug B edge node: a broker session of its own whose will is the
// NDEATH of that session's bdSeq; NBIRTH and a DBIRTH per device once the
// primary host is online (at once when none is configured), then NDATA/DDATA
// by exception after every control tick, each message with the next seq
// (0–255). NCMD `Node Control/Rebirth` republishes the births; other writes
// become the site's intents only with acceptCommands on, and are refused and
// audited otherwise. A clean stop sends DDEATH per device and the NDEATH.
import { hostname } from "node:os";
import type { IPublishPacket } from "mqtt";
import { z } from "zod";
import type { SparkplugConfig } from "../../../config/schema.ts";
import type { Actor } from "../../control/intents.ts";
import { MqttLink } from "../../mqtt/link.ts";
import type { Logger } from "../../runtime/logger.ts";
import type { ExportOptions, ExportSite, RunningExport } from "../types.ts";
import { BdSeq } from "./bdseq.ts";
import { birthPayload, dataPayload, deviceDeathPayload, nodeDeathPayload } from "./codec.ts";
import { changedMetrics, remember } from "./exception.ts";
import { SparkplugCommands } from "./inbound.ts";
import { Aliases, type DeviceKind, deviceMetrics, nodeMetrics, type SpValue } from "./metrics.ts";
import { nextSeq, SparkplugTopics } from "./topics.ts";

/** The primary host's STATE (Sparkplug 3.0: retained JSON on spBv1.0/STATE/<hostId>). */
const StateSchema = z.object({ online: z.boolean(), timestamp: z.number() });

export interface SparkplugOptions extends ExportOptions {
  backoff?: { baseMs: number; maxMs: number };
  /** Where bdSeq is kept between runs (default: beside the store; null: memory only). */
  bdSeqPath?: string | null;
}

export function startSparkplug(site: ExportSite, opts: SparkplugOptions): RunningExport | null {
  const cfg = site.config.exports?.sparkplug;
  if (!cfg) return null;
  const node = new SparkplugNode(site, cfg, opts);
  node.start();
  return node;
}

class SparkplugNode implements RunningExport {
  readonly topics: SparkplugTopics;
  private readonly log: Logger;
  private readonly aliases = new Aliases();
  private readonly bdSeqs: BdSeq;
  private readonly devices = new Map<string, DeviceKind>();
  private readonly actor: Actor;
  private link: MqttLink | null = null;
  private unsubTick: (() => void) | null = null;
  /** The bdSeq of the current (or coming) connection: its will and its NBIRTH carry it. */
  private bdSeq = 0;
  private seq = 0;
  private born = false;
  private hostOnline: boolean;
  private lastStateTs = 0;
  private stopped = false;
  private nodePublished = new Map<string, SpValue>();
  private devicePublished = new Map<string, Map<string, SpValue>>();
  private readonly lastActions = new Map<string, string>();
  private readonly commands: SparkplugCommands;

  constructor(
    private readonly site: ExportSite,
    private readonly cfg: SparkplugConfig,
    private readonly opts: SparkplugOptions,
  ) {
    const c = site.config;
    this.topics = new SparkplugTopics(cfg.groupId, cfg.edgeNodeId ?? c.site.id);
    this.log = opts.logger;
    this.bdSeqs = new BdSeq(
      opts.bdSeqPath === undefined ? `${c.store.path}-sparkplug-bdseq` : opts.bdSeqPath,
      this.log,
    );
    for (const m of c.miners) this.devices.set(m.id, "miner");
    for (const g of c.gpuNodes) this.devices.set(g.id, "gpu-node");
    for (const m of c.meters) this.devices.set(m.id, "meter");
    this.actor = { via: "sparkplug", who: cfg.primaryHostId ?? "scada" };
    this.hostOnline = cfg.primaryHostId === null;
    this.commands = new SparkplugCommands({
      site,
      acceptCommands: cfg.acceptCommands,
      logger: this.log,
      actor: this.actor,
      aliases: this.aliases,
      devices: this.devices,
      lastActions: this.lastActions,
      births: () => this.births(),
      publishData: () => this.publishData(),
    });
  }

  get isBorn(): boolean {
    return this.born;
  }

  start(): void {
    const c = this.site.config;
    const own = this.cfg.url !== null;
    const mqtt = c.mqtt;
    const url = this.cfg.url ?? mqtt?.url;
    if (!url) throw new Error("exports.sparkplug: no broker (give url, or add an mqtt section)");
    this.link = new MqttLink({
      url,
      // Sparkplug 3.0 is specified over MQTT 3.1.1; every host application speaks it
      protocolVersion: 4,
      clientId: `wattkeeper-spb-${this.topics.edgeNodeId}-${hostname()}`.slice(0, 64),
      username: own ? this.cfg.username : mqtt?.username,
      password: own ? this.cfg.password : mqtt?.password,
      ca: own ? this.cfg.ca : mqtt?.ca,
      cert: own ? null : mqtt?.cert,
      key: own ? null : mqtt?.key,
      will: () => {
        // one bdSeq per CONNECT: the NBIRTH of this session will carry the same number
        this.bdSeq = this.bdSeqs.next();
        return {
          topic: this.topics.node("NDEATH"),
          payload: nodeDeathPayload(this.bdSeq, Date.now()),
          qos: 1,
          retain: false,
        };
      },
      subscriptions: () => this.topics.subscriptions(this.cfg.primaryHostId),
      onConnect: () => this.onConnect(),
      onDisconnect: () => {
        this.born = false;
      },
      onMessage: (topic, payload, packet) => this.onMessage(topic, payload, packet),
      logger: this.log,
      ...(this.opts.backoff ? { backoff: this.opts.backoff } : {}),
    });
    this.unsubTick = this.site.onTick(() => this.publishData());
    this.link.start();
    this.log.info(
      {
        groupId: this.topics.groupId,
        edgeNodeId: this.topics.edgeNodeId,
        url,
        primaryHostId: this.cfg.primaryHostId,
        acceptCommands: this.cfg.acceptCommands,
      },
      "Sparkplug B edge node starting",
    );
  }

  /** DDEATH per device and the NDEATH of this session (a clean disconnect drops the will). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubTick?.();
    this.unsubTick = null;
    const link = this.link;
    this.link = null;
    if (!link) return;
    const now = Date.now();
    if (this.born && link.connected) {
      for (const id of this.devices.keys()) {
        this.send(link, this.topics.device("DDEATH", id), deviceDeathPayload(this.takeSeq(), now));
      }
    }
    this.born = false;
    await link.stop({
      topic: this.topics.node("NDEATH"),
      payload: nodeDeathPayload(this.bdSeq, now),
      retain: false,
    });
  }

  private onConnect(): void {
    this.born = false;
    if (this.cfg.primaryHostId === null) {
      this.births();
      return;
    }
    // wait for the host's retained STATE: births only while it is online
    this.hostOnline = false;
    this.log.info({ primaryHostId: this.cfg.primaryHostId }, "waiting for the primary host's STATE");
  }

  private takeSeq(): number {
    const s = this.seq;
    this.seq = nextSeq(s);
    return s;
  }

  private send(link: MqttLink, topic: string, payload: Buffer): void {
    // Sparkplug: births and data at QoS 0, never retained
    link.publish(topic, payload, { qos: 0, retain: false }).catch((err: Error) => {
      this.log.debug({ err: err.message, topic }, "Sparkplug publish failed");
    });
  }

  /** NBIRTH (seq 0, this session's bdSeq) and every DBIRTH: what a host needs to know the node again. */
  births(): void {
    const link = this.link;
    if (!link?.connected || !this.hostOnline || this.stopped) return;
    const now = Date.now();
    try {
      this.seq = 0;
      const node = this.nodeMetricsNow(now);
      this.send(
        link,
        this.topics.node("NBIRTH"),
        birthPayload({
          deviceId: null,
          metrics: node,
          aliases: this.aliases,
          seq: this.takeSeq(),
          now,
          bdSeq: this.bdSeq,
        }),
      );
      this.nodePublished = new Map();
      remember(this.nodePublished, node);
      this.devicePublished = new Map();
      for (const d of this.deviceMetricsNow()) {
        this.send(
          link,
          this.topics.device("DBIRTH", d.deviceId),
          birthPayload({
            deviceId: d.deviceId,
            metrics: d.metrics,
            aliases: this.aliases,
            seq: this.takeSeq(),
            now,
          }),
        );
        const published = new Map<string, SpValue>();
        remember(published, d.metrics);
        this.devicePublished.set(d.deviceId, published);
      }
      this.born = true;
      this.log.info(
        { bdSeq: this.bdSeq, devices: this.devicePublished.size },
        "Sparkplug NBIRTH and DBIRTHs published",
      );
    } catch (err) {
      this.log.error({ err }, "Sparkplug births not published");
    }
  }

  /** NDATA and DDATA with what changed since it was last published. */
  publishData(): void {
    const link = this.link;
    if (!this.born || !link?.connected) return;
    const now = Date.now();
    try {
      const node = changedMetrics(this.nodePublished, this.nodeMetricsNow(now));
      if (node.length > 0) {
        this.send(
          link,
          this.topics.node("NDATA"),
          dataPayload({ deviceId: null, metrics: node, aliases: this.aliases, seq: this.takeSeq(), now }),
        );
        remember(this.nodePublished, node);
      }
      for (const d of this.deviceMetricsNow()) {
        const published = this.devicePublished.get(d.deviceId);
        if (!published) continue;
        const changed = changedMetrics(published, d.metrics);
        if (changed.length === 0) continue;
        this.send(
          link,
          this.topics.device("DDATA", d.deviceId),
          dataPayload({
            deviceId: d.deviceId,
            metrics: changed,
            aliases: this.aliases,
            seq: this.takeSeq(),
            now,
          }),
        );
        remember(published, changed);
      }
    } catch (err) {
      this.log.error({ err }, "Sparkplug data not published");
    }
  }

  private nodeMetricsNow(now: number) {
    return nodeMetrics({
      site: this.site.siteView(),
      version: this.opts.version,
      unhealthyReason: this.site.unhealthyReason(),
      reportByExceptionW: this.cfg.reportByExceptionW,
      now,
    });
  }

  private deviceMetricsNow() {
    return deviceMetrics({
      devices: this.site.devicesView(),
      reportByExceptionW: this.cfg.reportByExceptionW,
      lastActions: this.lastActions,
    });
  }

  private onMessage(topic: string, payload: Buffer, _packet: IPublishPacket): void {
    const t = this.topics.parse(topic);
    if (!t) return;
    if (t.kind === "STATE") {
      this.onState(t.hostId, payload);
      return;
    }
    void this.commands.onCommand(t, topic, payload);
  }

  private onState(hostId: string, payload: Buffer): void {
    if (hostId !== this.cfg.primaryHostId) return;
    let state: z.infer<typeof StateSchema>;
    try {
      state = StateSchema.parse(JSON.parse(payload.toString("utf8")));
    } catch {
      this.log.warn(
        { hostId },
        'primary host STATE not understood (expected {"online":bool,"timestamp":ms})',
      );
      return;
    }
    // an older STATE than one already seen is a stale retained copy: ignored (Sparkplug 3.0)
    if (state.timestamp < this.lastStateTs) return;
    // the same STATE again (a duplicate delivery) while born: nothing new to tell the host
    if (state.timestamp === this.lastStateTs && state.online && this.born) return;
    this.lastStateTs = state.timestamp;
    const was = this.hostOnline;
    this.hostOnline = state.online;
    if (state.online) {
      // online, or back online: it must learn the node afresh
      this.log.info({ hostId, was }, "primary host online: births");
      this.births();
    } else if (was && this.born) {
      // the host is gone: end this session (NDEATH) and come back with a new bdSeq, quiet until it returns
      this.log.warn({ hostId }, "primary host offline: Sparkplug session ended until it returns");
      void this.restart();
    }
  }

  private async restart(): Promise<void> {
    const link = this.link;
    if (!link) return;
    this.born = false;
    await link.stop({
      topic: this.topics.node("NDEATH"),
      payload: nodeDeathPayload(this.bdSeq, Date.now()),
      retain: false,
    });
    if (!this.stopped && this.link === link) link.start();
  }
}
