// The MQTT channel's outbound side: site telemetry each tick, device telemetry
// each poll cycle by exception (only what moved beyond its deadband, a full
// refresh every fullEveryS), the retained state and the events. Telemetry and
// events go through the SQLite outbox whenever the link is down or still
// replaying, so they arrive in order with their original timestamps. Apart
// from channel.ts (connection and lifecycle) and command-handler.ts (inbound).
import { setImmediate as yieldToLoop } from "node:timers/promises";
import type { IClientPublishOptions } from "mqtt";
import type { MqttConfig } from "../../config/schema.ts";
import type { PollDriver } from "../devices/pollers.ts";
import type { Logger } from "../runtime/logger.ts";
import type { SiteTick } from "../site/tick.ts";
import type { Outbox, OutboxKind, OutboxMessage } from "../store/outbox.ts";
import type { MqttLink } from "./link.ts";
import {
  chunkTelemetry,
  DEVICE_KEY,
  type DeviceKind,
  GPU_FIELDS,
  gpuRows,
  METER_FIELDS,
  MINER_FIELDS,
  meterRows,
  minerRows,
  type StateBody,
  siteTelemetry,
  stateBody,
} from "./payloads.ts";
import { DeltaEncoder, deltaSpec } from "./telemetry-delta.ts";
import { encodePayload, type Topic, type TopicKind, type TopicPayloads, type Topics } from "./topics.ts";
import type { ChannelSite } from "./types.ts";

const DEFAULT_DEVICE_CHUNK_BYTES = 32 * 1024;
const DEFAULT_DRAIN_BATCH = 256;
/** Bytes in flight per replay batch: a batch stops growing past this. */
const DRAIN_BATCH_BYTES = 1024 * 1024;

/** The topics that go through the outbox, and the outbox kind of each. */
type QueuedKind = "telemetrySite" | "telemetryDevices" | "events";

export interface PublisherOptions {
  site: ChannelSite;
  cfg: MqttConfig;
  topics: Topics;
  logger: Logger;
  /** Largest device telemetry message, bytes. */
  deviceChunkBytes?: number;
  /** Messages per replay batch (each batch awaits its acks, then yields to the event loop). */
  drainBatch?: number;
  /** The device telemetry's clock (its `at` and when a refresh is due). */
  clock?: () => number;
}

export class MqttPublisher {
  /** Set by the channel while it has a link; null once it is stopping. */
  link: MqttLink | null = null;
  /** Set by the channel between start and close. */
  outbox: Outbox | null = null;
  stopped = false;
  published = 0;
  publishedBytes = 0;
  private draining = false;
  private lastStateKey: string | null = null;
  private stateDirty = true;
  private lastState: StateBody | null = null;
  private cycle = 0;
  /** Device telemetry by exception, per kind: what was last sent, the next chunk's sequence number, the last refresh. */
  private readonly telemetry = new Map<
    DeviceKind,
    { encoder: DeltaEncoder; nextSeq: number; lastFullAt: number | null; refreshDue: boolean }
  >();

  constructor(private readonly o: PublisherOptions) {}

  /** Publishes straight on the link (not through the outbox, not counted): status, state, responses. */
  publish<K extends TopicKind>(
    topic: Topic<K>,
    payload: TopicPayloads[K],
    opts: IClientPublishOptions,
  ): Promise<void> {
    const link = this.link;
    if (!link) return Promise.reject(new Error("not connected"));
    return link.publish(topic, encodePayload(topic, payload), opts);
  }

  /** On every connect: the state again, a refresh of every device, and the outbox replayed. */
  connected(): void {
    this.stateDirty = true;
    this.publishState();
    // a subscriber that joined while the link was down has nothing to apply deltas to
    for (const t of this.telemetry.values()) t.refreshDue = true;
    void this.drain();
  }

  /** Publishes directly when the link is up and nothing waits before it; else queues in the outbox. */
  queue<K extends QueuedKind>(kind: OutboxKind, topic: Topic<K>, message: TopicPayloads[K]): void {
    const payload = encodePayload(topic, message);
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
    const batchMax = this.o.drainBatch ?? DEFAULT_DRAIN_BATCH;
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
      this.o.logger.warn({ err }, "outbox replay failed");
    } finally {
      this.draining = false;
    }
    if (sent > 0) this.o.logger.info({ sent, left: this.outbox?.messages ?? 0 }, "outbox replayed");
  }

  onTick(t: SiteTick): void {
    this.queue("telemetry", this.o.topics.telemetrySite, siteTelemetry(t));
    this.noteState(t);
  }

  onSweep(driver: PollDriver): void {
    const { site } = this.o;
    const now = this.o.clock?.() ?? Date.now();
    const max = this.o.deviceChunkBytes ?? DEFAULT_DEVICE_CHUNK_BYTES;
    const cycle = ++this.cycle;
    let kind: DeviceKind;
    let fields: readonly string[];
    let rows: unknown[][];
    if (driver === "cgminer") {
      const entries = [...site.state.miners].map(([id, e]) => ({ id, reading: e.reading }));
      [kind, fields, rows] = ["miners", MINER_FIELDS, minerRows(entries, now)];
    } else if (driver === "nvidia") {
      [kind, fields, rows] = ["gpus", GPU_FIELDS, gpuRows(site.state.gpuNodes, now)];
    } else {
      [kind, fields, rows] = ["meters", METER_FIELDS, meterRows(site.state.meterStatus(Date.now()))];
    }
    const cfg = this.o.cfg.telemetry;
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
    const chunks = chunkTelemetry({
      head: { kind, fields, key: DEVICE_KEY[kind], full: frame.full, at: now, cycle },
      rows: frame.rows,
      gone: frame.gone,
      firstSeq: t.nextSeq,
      maxBytes: max,
    });
    t.nextSeq += chunks.length;
    for (const c of chunks) this.queue("telemetry", this.o.topics.telemetryDevices, c);
  }

  /** The retained state, republished when it changes. */
  private noteState(t: SiteTick): void {
    const state = stateBody(t, this.o.site);
    const key = JSON.stringify(state);
    if (key !== this.lastStateKey) {
      this.lastStateKey = key;
      this.lastState = state;
      this.stateDirty = true;
    }
    this.publishState();
  }

  private publishState(): void {
    if (!this.stateDirty || !this.lastState || !this.link?.connected) return;
    this.stateDirty = false;
    this.publish(
      this.o.topics.state,
      { at: new Date().toISOString(), ...this.lastState },
      { qos: 1, retain: true },
    ).catch(() => {
      this.stateDirty = true;
    });
  }
}
