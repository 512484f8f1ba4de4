// The MQTT channel of a site: publishes status (birth and LWT), telemetry
// (site each tick, devices each poll cycle by exception: only what moved
// beyond its deadband, a full refresh every fullEveryS), the retained state and the
// events; takes signed commands and the economics inputs. Telemetry and
// events go through the SQLite outbox whenever the link is down or still
// replaying, so they arrive in order with their original timestamps. It never
// calls a driver: commands become the Site's intents.
import { hostname } from "node:os";
import { setImmediate as yieldToLoop } from "node:timers/promises";
import type { IPublishPacket } from "mqtt";
import type { MqttConfig } from "../../config/schema.ts";
import type { Actor } from "../control/intents.ts";
import type { PollDriver } from "../devices/pollers.ts";
import type { Logger } from "../runtime/logger.ts";
import { commandsTotal } from "../runtime/metrics.ts";
import type { SiteTick } from "../site/tick.ts";
import { Outbox, type OutboxKind, type OutboxMessage } from "../store/outbox.ts";
import { type Checked, checkCommand, dispatch } from "./commands.ts";
import { MqttLink } from "./link.ts";
import {
  chunkTelemetry,
  DEVICE_KEY,
  type DeviceKind,
  eventPayload,
  GPU_FIELDS,
  gpuRows,
  METER_FIELDS,
  MINER_FIELDS,
  meterRows,
  minerRows,
  siteTelemetry,
} from "./payloads.ts";
import { parsePrice } from "./prices.ts";
import { ReplayCache } from "./replay.ts";
import { parsePublicKey } from "./signing.ts";
import { DeltaEncoder, deltaSpec } from "./telemetry-delta.ts";
import { isCommandName, Topics } from "./topics.ts";
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

export const DEFAULT_DEVICE_CHUNK_BYTES = 32 * 1024;
const DEFAULT_DRAIN_BATCH = 256;
/** Bytes in flight per replay batch: a batch stops growing past this. */
const DRAIN_BATCH_BYTES = 1024 * 1024;

export class MqttChannel {
  readonly topics: Topics;
  private readonly log: Logger;
  private link: MqttLink | null = null;
  private outbox: Outbox | null = null;
  private replay: ReplayCache | null = null;
  private readonly keys = new Map<string, ReturnType<typeof parsePublicKey>>();
  private readonly unsubs: Array<() => void> = [];
  private unsubEvents: (() => void) | null = null;
  private draining = false;
  private stopped = false;
  private lastStateKey: string | null = null;
  private stateDirty = true;
  private lastState: object | null = null;
  private cycle = 0;
  /** Device telemetry by exception, per kind: what was last sent, the next chunk's sequence number, the last refresh. */
  private readonly telemetry = new Map<
    DeviceKind,
    { encoder: DeltaEncoder; nextSeq: number; lastFullAt: number | null; refreshDue: boolean }
  >();
  private published = 0;
  private publishedBytes = 0;
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(
    private readonly site: ChannelSite,
    private readonly cfg: MqttConfig,
    private readonly opts: ChannelOptions,
  ) {
    this.topics = new Topics(cfg.topicRoot, site.config.site.id);
    this.log = opts.logger;
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
    this.outbox = new Outbox(path, this.cfg.outbox.maxMB * 1024 * 1024);
    this.outbox.open();
    this.replay = new ReplayCache(path, this.cfg.commandSkewS);
    this.replay.open();
    this.replay.prune();
    this.unsubs.push(
      this.site.onTick((t) => this.onTick(t)),
      this.site.onSweep((d) => this.onSweep(d)),
    );
    this.unsubEvents = this.site.onEvent((e) =>
      this.send("event", this.topics.events, Buffer.from(JSON.stringify(eventPayload(e)))),
    );
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
      will: { topic: t.status, payload: JSON.stringify({ online: false }), qos: 1, retain: true },
      subscriptions: () => this.subscriptions(),
      onConnect: () => this.onConnect(),
      onMessage: (topic, payload, packet) => this.onMessage(topic, payload, packet),
      logger: this.log,
      backoff: this.opts.backoff,
    });
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
    if (this.stopped) return;
    this.stopped = true;
    for (const u of this.unsubs.splice(0)) u();
    this.site.setBrokerStatus(null);
    await this.link?.stop({
      topic: this.topics.status,
      payload: JSON.stringify({ online: false }),
      retain: true,
    });
    this.link = null;
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
    this.outbox?.close();
    this.outbox = null;
    this.replay?.close();
    this.replay = null;
  }

  status() {
    return {
      connected: this.link?.connected ?? false,
      outboxMessages: this.outbox?.messages ?? 0,
      outboxBytes: this.outbox?.sizeBytes ?? 0,
      outboxDropped: this.outbox?.dropped ?? 0,
      url: this.cfg.url,
      since: new Date(this.link?.since ?? Date.now()).toISOString(),
      error: this.link?.connected ? null : (this.link?.error ?? null),
      published: this.published,
      publishedBytes: this.publishedBytes,
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
    const link = this.link;
    if (!link) return;
    const birth = JSON.stringify({
      online: true,
      version: this.opts.version,
      startedAt: new Date(this.opts.startedAt).toISOString(),
    });
    link.publish(this.topics.status, birth, { qos: 1, retain: true }).catch(() => undefined);
    this.stateDirty = true;
    this.publishState();
    // a subscriber that joined while the link was down has nothing to apply deltas to
    for (const t of this.telemetry.values()) t.refreshDue = true;
    void this.drain();
  }

  // ------------------------------------------------------------ outbound

  /** Publishes directly when the link is up and nothing waits before it; else queues in the outbox. */
  private send(kind: OutboxKind, topic: string, payload: Buffer): void {
    const outbox = this.outbox;
    const link = this.link;
    if (!outbox) return;
    if (!link) {
      // disconnected for good, the site still stopping: its events wait for the next start
      if (kind === "event") outbox.add({ kind, topic, payload, qos: 1 });
      return;
    }
    if (link.connected && !this.draining && outbox.messages === 0) {
      const seq = outbox.takeSeq();
      link.publish(topic, payload, { qos: 1 }).then(
        () => this.count(payload),
        () => {
          // the link went with it in flight: back in line, at its place
          if (!this.outbox) return;
          this.outbox.add({ seq, kind, topic, payload, qos: 1 });
          void this.drain();
        },
      );
      return;
    }
    outbox.add({ kind, topic, payload, qos: 1 });
    if (link.connected) void this.drain();
  }

  private count(payload: Buffer): void {
    this.published++;
    this.publishedBytes += payload.length;
  }

  /** Replays the outbox in order, a batch at a time, yielding between batches so the loop keeps ticking. */
  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    const batchMax = this.opts.drainBatch ?? DEFAULT_DRAIN_BATCH;
    let sent = 0;
    try {
      while (!this.stopped && this.link?.connected && this.outbox && this.outbox.messages > 0) {
        const link = this.link;
        const all = this.outbox.peek(batchMax);
        const batch: OutboxMessage[] = [];
        let bytes = 0;
        for (const m of all) {
          if (batch.length > 0 && bytes + m.payload.length > DRAIN_BATCH_BYTES) break;
          batch.push(m);
          bytes += m.payload.length;
        }
        const results = await Promise.allSettled(
          batch.map((m) => link.publish(m.topic, m.payload, { qos: m.qos })),
        );
        const done: number[] = [];
        results.forEach((r, i) => {
          if (r.status === "fulfilled") {
            done.push(batch[i]!.seq);
            this.count(batch[i]!.payload);
          }
        });
        this.outbox?.remove(done);
        sent += done.length;
        if (done.length < batch.length) break; // the link fell: the rest waits for the next connect
        await yieldToLoop();
      }
    } catch (err) {
      this.log.warn({ err }, "outbox replay failed");
    } finally {
      this.draining = false;
    }
    if (sent > 0) this.log.info({ sent, left: this.outbox?.messages ?? 0 }, "outbox replayed");
  }

  private onTick(t: SiteTick): void {
    this.send("telemetry", this.topics.telemetrySite, Buffer.from(JSON.stringify(siteTelemetry(t))));
    this.noteState(t);
  }

  private onSweep(driver: PollDriver): void {
    const now = this.opts.clock?.() ?? Date.now();
    const max = this.opts.deviceChunkBytes ?? DEFAULT_DEVICE_CHUNK_BYTES;
    const cycle = ++this.cycle;
    let kind: DeviceKind;
    let fields: readonly string[];
    let rows: unknown[][];
    if (driver === "cgminer") {
      const entries = [...this.site.state.miners].map(([id, e]) => ({ id, reading: e.reading }));
      [kind, fields, rows] = ["miners", MINER_FIELDS, minerRows(entries, now)];
    } else if (driver === "nvidia") {
      [kind, fields, rows] = ["gpus", GPU_FIELDS, gpuRows(this.site.state.gpuNodes, now)];
    } else {
      [kind, fields, rows] = ["meters", METER_FIELDS, meterRows(this.site.snapshot())];
    }
    const cfg = this.cfg.telemetry;
    let t = this.telemetry.get(kind);
    if (!t) {
      t = {
        encoder: new DeltaEncoder(deltaSpec(fields, DEVICE_KEY[kind], cfg)),
        nextSeq: 1,
        lastFullAt: null,
        refreshDue: true,
      };
      this.telemetry.set(kind, t);
    }
    const full = t.refreshDue || t.lastFullAt === null || now - t.lastFullAt >= cfg.fullEveryS * 1000;
    // a device not in the last refresh makes this cycle one (frame.full)
    const frame = t.encoder.next(rows, full);
    if (frame.full) {
      t.lastFullAt = now;
      t.refreshDue = false;
    }
    const chunks = chunkTelemetry(
      { kind, fields, key: DEVICE_KEY[kind], full: frame.full, at: now, cycle },
      frame.rows,
      frame.gone,
      t.nextSeq,
      max,
    );
    t.nextSeq += chunks.length;
    for (const c of chunks) this.send("telemetry", this.topics.telemetryDevices, c);
  }

  /** The retained state: what was asked (lease, mode) and what is in force (budget, curtailed devices, AI caps). */
  private noteState(t: SiteTick): void {
    const lease = this.site.budgetLease;
    const cur = this.site.curtailment();
    const state = {
      desired: {
        lease: lease
          ? { watts: lease.watts, expiresAt: new Date(lease.expiresAt).toISOString(), reason: lease.reason }
          : null,
        mode: this.site.mode,
      },
      applied: {
        budgetW: t.budget ? Math.round(t.budget.budgetW) : null,
        budgetSource: t.budget?.source ?? null,
        budgetReason: t.budget?.reason ?? null,
        mode: t.mode,
        // ids only: at 5,000 miners the retained message stays small; when each began is in the events
        curtailed: {
          sleep: cur.curtailed.filter((c) => c.how === "sleep").map((c) => c.id),
          powerLimit: cur.curtailed.filter((c) => c.how === "power-limit").map((c) => c.id),
        },
        aiCaps: cur.aiCaps.map((c) => ({ id: c.id, gpu: c.gpu, originalW: c.originalW })),
      },
    };
    const key = JSON.stringify(state);
    if (key !== this.lastStateKey) {
      this.lastStateKey = key;
      this.lastState = state;
      this.stateDirty = true;
    }
    this.publishState();
  }

  private publishState(): void {
    const link = this.link;
    if (!this.stateDirty || !this.lastState || !link?.connected) return;
    this.stateDirty = false;
    const payload = JSON.stringify({ at: new Date().toISOString(), ...this.lastState });
    link.publish(this.topics.state, payload, { qos: 1, retain: true }).catch(() => {
      this.stateDirty = true;
    });
  }

  // ------------------------------------------------------------ inbound

  private onMessage(topic: string, payload: Buffer, packet: IPublishPacket): void {
    const name = this.topics.commandOf(topic);
    if (name !== null) {
      const p = this.handleCommand(name, payload, packet).catch((err) =>
        this.log.error({ err, command: name }, "command handling failed"),
      );
      this.inflight.add(p);
      void p.finally(() => this.inflight.delete(p));
      return;
    }
    if (this.site.signalTopics.includes(topic)) this.site.signalMessage(topic, payload);
    const e = this.site.config.control.economics;
    if (e?.energyPriceTopic === topic) this.price("energyPricePerKwh", topic, payload);
    if (e?.hashpriceTopic === topic) this.price("hashpricePerThDay", topic, payload);
  }

  /**
   * A price is an input from outside like a command: read (signed where the
   * config asks), then judged by the site's bounds and age rules; a refusal is
   * logged here and alarmed by the site.
   */
  private price(field: "energyPricePerKwh" | "hashpricePerThDay", topic: string, payload: Buffer): void {
    const p = parsePrice(payload, {
      topic,
      keys: this.keys,
      requireSigned: this.site.config.control.economics?.signedPrices ?? false,
    });
    if ("error" in p) {
      this.log.warn({ topic, code: p.code }, `${field}: refused, ${p.error}`);
      this.site.refusePrice(field, p.code, p.error, topic);
      return;
    }
    const refusal = this.site.offerPrice(field, {
      value: p.value,
      issuedAt: p.issuedAt,
      source: topic,
      keyName: p.keyName,
    });
    if (refusal !== null) {
      this.log.warn({ topic, value: p.value }, `${field}: refused, ${refusal}`);
      return;
    }
    this.log.info({ topic, value: p.value }, p.value === null ? `${field} cleared` : `${field} set`);
  }

  private async handleCommand(name: string, raw: Buffer, packet: IPublishPacket): Promise<void> {
    const replay = this.replay;
    if (!replay) return;
    const c = checkCommand(name, raw, {
      siteId: this.site.config.site.id,
      keys: this.keys,
      skewS: this.cfg.commandSkewS,
      maxBytes: this.cfg.maxCommandBytes,
      replay,
    });
    const label = isCommandName(name) ? name : "unknown";
    if (!c.ok) {
      commandsTotal.inc({ name: label, result: `rejected:${c.code}` });
      this.auditRefusal(name, raw, c);
      this.log.warn(
        { command: name.slice(0, 64), id: c.id, keyName: c.keyName, reason: c.code },
        `command refused: ${c.error}`,
      );
      await this.respond(name, packet, { id: c.id, name, ok: false, error: c.error });
      return;
    }
    const actor: Actor = { via: "mqtt", who: c.envelope.keyName, ref: c.envelope.id };
    const r = await dispatch(this.site, c, actor).catch((err: unknown) => ({
      ok: false as const,
      error: err instanceof Error ? err.message : String(err),
    }));
    if (c.name === "ping") {
      // the Site audits its intents; ping is not one
      commandsTotal.inc({ name: "ping", result: "ok" });
      this.site.audit?.append({
        at: Date.now(),
        via: "mqtt",
        who: actor.who,
        action: "ping",
        body: c.body,
        ok: true,
        ref: actor.ref,
      });
    }
    this.log.info(
      { command: c.name, id: c.envelope.id, keyName: actor.who, ok: r.ok },
      `command ${c.name} ${r.ok ? "applied" : "failed"}`,
    );
    await this.respond(name, packet, {
      id: c.envelope.id,
      name,
      ok: r.ok,
      ...(r.ok
        ? { appliedAt: new Date().toISOString(), ...(r.detail ? { detail: r.detail } : {}) }
        : { error: r.error }),
    });
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
      this.site.audit?.append({
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
      this.log.error({ err }, "audit write failed");
    }
  }

  /**
   * A requester chooses the MQTT 5 response topic, possibly without a valid
   * signature: never let it make the agent publish on its own status,
   * telemetry, state or events topics.
   */
  private responseTopicAllowed(rt: string): boolean {
    if (rt.length > 512 || /[#+]/.test(rt)) return false;
    const base = `${this.topics.base}/`;
    return !rt.startsWith(base) || rt.startsWith(`${base}response/`);
  }

  /** The response on …/response/<name>, and on the MQTT 5 response topic with its correlation data. */
  private async respond(name: string, packet: IPublishPacket, body: Record<string, unknown>): Promise<void> {
    const link = this.link;
    if (!link?.connected) return;
    const payload = JSON.stringify(body);
    const main = this.topics.response(name);
    const sends = [link.publish(main, payload, { qos: 1 })];
    const rt = packet.properties?.responseTopic;
    if (this.cfg.protocolVersion === 5 && rt && rt !== main && this.responseTopicAllowed(rt)) {
      const properties = packet.properties?.correlationData
        ? { correlationData: packet.properties.correlationData }
        : {};
      sends.push(link.publish(rt, payload, { qos: 1, properties }));
    }
    const r = await Promise.allSettled(sends);
    for (const x of r)
      if (x.status === "rejected") this.log.warn({ err: x.reason, command: name }, "response not published");
  }
}
