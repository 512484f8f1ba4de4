// The connection to the broker: one mqtt.js client per attempt, MQTT 5 or
// 3.1.1, TLS and credentials from the config, a retained LWT on the status
// topic, subscriptions (re)made on every connect, and reconnects with
// exponential backoff and equal jitter (mqtt.js's own fixed-period reconnect is
// off: reconnectPeriod 0). Publishes settle exactly once: acked, or failed
// when the connection goes (the caller puts the message back in the outbox).

import {
  connect,
  type IClientOptions,
  type IClientPublishOptions,
  type IPublishPacket,
  type MqttClient,
} from "mqtt";
import { backoffDelayMs } from "../runtime/backoff.ts";
import type { Logger } from "../runtime/logger.ts";

export interface LinkOptions {
  url: string;
  protocolVersion: 4 | 5;
  clientId: string;
  username?: string | null;
  password?: string | null;
  ca?: string | null;
  cert?: string | null;
  key?: string | null;
  /**
   * The last will: published by the broker when the link dies uncleanly (none for a link that only listens).
   * A function is asked again before every connection attempt (a Sparkplug NDEATH carries that session's bdSeq).
   */
  will?: LinkWill | (() => LinkWill) | null;
  /** Topics (re)subscribed on every connect. */
  subscriptions: () => string[];
  onConnect?: () => void;
  onDisconnect?: () => void;
  onMessage: (topic: string, payload: Buffer, packet: IPublishPacket) => void;
  logger: Logger;
  backoff?: { baseMs: number; maxMs: number };
  connectTimeoutMs?: number;
  /** A QoS 1 publish not acked in this time fails. */
  publishTimeoutMs?: number;
  keepaliveS?: number;
}

interface LinkWill {
  topic: string;
  payload: string | Buffer;
  qos: 0 | 1;
  retain: boolean;
}

const DEFAULT_BACKOFF = { baseMs: 1000, maxMs: 60_000 };

export { backoffDelayMs } from "../runtime/backoff.ts";

/** The broker credentials and TLS material of a connection, where given (the agent's link and `send`). */
export function withCredentials(
  opts: IClientOptions,
  o: {
    username?: string | null;
    password?: string | null;
    ca?: string | Buffer | null;
    cert?: string | Buffer | null;
    key?: string | Buffer | null;
  },
): IClientOptions {
  if (o.username) opts.username = o.username;
  if (o.password) opts.password = o.password;
  if (o.ca) opts.ca = o.ca;
  if (o.cert) opts.cert = o.cert;
  if (o.key) opts.key = o.key;
  return opts;
}

export class MqttLink {
  private client: MqttClient | null = null;
  private timer: NodeJS.Timeout | null = null;
  private attempt = 0;
  private stopping = false;
  private lastError: string | null = null;
  private _connected = false;
  /** When the link last came up or went down. */
  since: number = Date.now();
  connects = 0;

  constructor(private readonly o: LinkOptions) {}

  get connected(): boolean {
    return this._connected;
  }

  get error(): string | null {
    return this.lastError;
  }

  start(): void {
    this.stopping = false;
    this.open();
  }

  private open(): void {
    this.timer = null;
    if (this.stopping) return;
    const o = this.o;
    const opts: IClientOptions = {
      protocolVersion: o.protocolVersion,
      clientId: o.clientId,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: o.connectTimeoutMs ?? 10_000,
      keepalive: o.keepaliveS ?? 30,
      resubscribe: false,
      queueQoSZero: false,
      rejectUnauthorized: true,
      // no table of 65,536 two-byte buffers for packet numbers (6 MB of heap, for the process's
      // life); the few numbers a packet has are written as it goes
      writeCache: false,
    };
    const will = typeof o.will === "function" ? o.will() : o.will;
    if (will) {
      opts.will = {
        topic: will.topic,
        payload: Buffer.from(will.payload),
        qos: will.qos,
        retain: will.retain,
      };
    }
    withCredentials(opts, o);
    const client = connect(o.url, opts);
    this.client = client;
    let closed = false;
    client.on("connect", () => {
      if (this.client !== client) return;
      this.attempt = 0;
      this._connected = true;
      this.since = Date.now();
      this.connects++;
      this.lastError = null;
      o.logger.info({ url: o.url, protocolVersion: o.protocolVersion }, "broker connected");
      const topics = o.subscriptions();
      if (topics.length > 0) {
        client.subscribe(topics, { qos: 1 }, (err) => {
          if (err) o.logger.warn({ err: err.message }, "subscribe failed");
        });
      }
      o.onConnect?.();
    });
    client.on("message", (topic, payload, packet) => {
      if (this.client === client) o.onMessage(topic, payload, packet);
    });
    client.on("error", (err) => {
      if (err.message !== this.lastError)
        o.logger.warn({ err: err.message, url: o.url }, "broker link error");
      this.lastError = err.message;
    });
    client.on("close", () => {
      if (closed) return;
      closed = true;
      const was = this._connected && this.client === client;
      if (this.client === client) {
        this._connected = false;
        this.client = null;
      }
      client.end(true);
      if (was) {
        this.since = Date.now();
        o.logger.warn({ url: o.url }, "broker connection lost");
        o.onDisconnect?.();
      }
      if (!this.stopping) {
        const delay = backoffDelayMs(this.attempt++, o.backoff ?? DEFAULT_BACKOFF);
        o.logger.debug({ delayMs: delay, attempt: this.attempt }, "broker reconnect scheduled");
        this.timer = setTimeout(() => this.open(), delay);
        this.timer.unref?.();
      }
    });
  }

  /** Publishes now; rejects when not connected, when the connection goes first, or on timeout. */
  publish(topic: string, payload: Buffer | string, opts: IClientPublishOptions = { qos: 1 }): Promise<void> {
    const client = this.client;
    if (!client || !this._connected) return Promise.reject(new Error("not connected"));
    return new Promise<void>((resolve, reject) => {
      let done = false;
      const t = setTimeout(() => settle(new Error("publish timed out")), this.o.publishTimeoutMs ?? 30_000);
      t.unref?.();
      const settle = (err?: Error | null) => {
        if (done) return;
        done = true;
        clearTimeout(t);
        if (err) reject(err);
        else resolve();
      };
      client.publish(topic, payload, opts, (err) => settle(err ?? null));
    });
  }

  /** Ends the link: the final message (the offline status) first, if connected; never waits long. */
  async stop(final?: { topic: string; payload: string | Buffer; retain: boolean }): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const client = this.client;
    if (!client) return;
    if (this._connected && final) {
      await Promise.race([
        this.publish(final.topic, final.payload, { qos: 1, retain: final.retain }).catch(() => undefined),
        new Promise((r) => setTimeout(r, 2000).unref?.()),
      ]);
    }
    this._connected = false;
    this.client = null;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        client.end(true);
        resolve();
      }, 2000);
      client.end(false, {}, () => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}
