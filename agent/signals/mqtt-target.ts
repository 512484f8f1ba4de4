// `signals.target`: an aggregator's MQTT target, `{"target": 0..100,
// "timestamp": unix s or ISO}` — the share of the flexible (mining) load to
// keep running (the MaestroOS convention, republished every ~30 s). On the
// site's own broker (the channel hands the messages over) or on a second one
// with its own URL, TLS and credentials. A feed older than `staleS` follows
// `failPolicy`: closed curtails to the floor, open releases the constraint.
import { z } from "zod";
import { type LinkOptions, MqttLink } from "../mqtt/link.ts";
import type { Logger } from "../runtime/logger.ts";
import type { SignalInput, SignalStatus } from "./types.ts";

const MAX_TARGET_BYTES = 1024;
/** How far a message's timestamp may run ahead of our clock before it is refused. */
const FUTURE_SKEW_MS = 60_000;

const TargetSchema = z.strictObject({
  target: z.number().min(0).max(100),
  timestamp: z.union([z.number().finite().positive(), z.iso.datetime({ offset: true })]).optional(),
});

export interface TargetMessage {
  /** Share of the flexible load to keep running, 0..1. */
  keepFraction: number;
  /** When the aggregator issued it (epoch ms), or null when the message does not say. */
  issuedAt: number | null;
}

/** A target message, or why it is refused. Unix seconds and milliseconds are both taken. */
export function parseTargetMessage(payload: Buffer, now: number): TargetMessage | { error: string } {
  if (payload.length > MAX_TARGET_BYTES) return { error: `larger than ${MAX_TARGET_BYTES} bytes` };
  let raw: unknown;
  try {
    raw = JSON.parse(payload.toString("utf8"));
  } catch {
    return { error: "not JSON" };
  }
  const r = TargetSchema.safeParse(raw);
  if (!r.success) return { error: 'expected {"target": 0..100, "timestamp": unix seconds or ISO-8601}' };
  const ts = r.data.timestamp;
  // below 1e11 it is seconds (that many ms would be 1973)
  const issuedAt =
    ts === undefined ? null : typeof ts === "string" ? Date.parse(ts) : ts < 1e11 ? ts * 1000 : ts;
  if (issuedAt !== null && issuedAt > now + FUTURE_SKEW_MS) {
    return { error: `timestamp ${new Date(issuedAt).toISOString()} is in the future` };
  }
  return { keepFraction: r.data.target / 100, issuedAt };
}

export interface MqttTargetOptions {
  name: string;
  topic: string;
  staleS: number;
  failPolicy: "closed" | "open";
  /** Share kept when a closed policy curtails a stale feed (0 = every flexible miner). */
  floorFraction: number;
  /** A second broker; null: the site's own link hands messages in through handle(). */
  broker:
    | (Omit<LinkOptions, "subscriptions" | "onMessage" | "logger" | "will" | "clientId"> & {
        clientId?: string;
      })
    | null;
  logger: Logger;
  /** A message refused (events, audit). */
  onRefused?: (why: string) => void;
  /** A target taken. */
  onTarget?: () => void;
  now?: () => number;
}

export class MqttTargetSignal implements SignalInput {
  readonly kind = "target" as const;
  readonly name: string;
  private link: MqttLink | null = null;
  private latest: TargetMessage | null = null;
  /** When the latest message arrived (its freshness when it carries no timestamp). */
  private receivedAt = 0;
  private readonly startedAt: number;
  private readonly now: () => number;
  private last: SignalStatus;

  constructor(private readonly opts: MqttTargetOptions) {
    this.name = opts.name;
    this.now = opts.now ?? Date.now;
    this.startedAt = this.now();
    this.last = {
      name: this.name,
      kind: "target",
      state: "idle",
      budgetW: null,
      since: this.startedAt,
      reason: "no target yet",
    };
  }

  async start(): Promise<void> {
    const b = this.opts.broker;
    if (!b) return;
    this.link = new MqttLink({
      ...b,
      clientId: b.clientId ?? `wattkeeper-target-${process.pid}`,
      will: null,
      subscriptions: () => [this.opts.topic],
      onMessage: (topic, payload) => {
        if (topic === this.opts.topic) this.handle(payload);
      },
      logger: this.opts.logger,
    });
    this.link.start();
  }

  async stop(): Promise<void> {
    await this.link?.stop();
    this.link = null;
  }

  /** One message from the topic. */
  handle(payload: Buffer): void {
    const now = this.now();
    const m = parseTargetMessage(payload, now);
    if ("error" in m) {
      this.opts.logger.warn({ topic: this.opts.topic }, `target refused: ${m.error}`);
      this.opts.onRefused?.(m.error);
      return;
    }
    if (this.latest?.issuedAt != null && m.issuedAt !== null && m.issuedAt < this.latest.issuedAt) {
      this.opts.onRefused?.("older than the target in force");
      return;
    }
    this.latest = m;
    this.receivedAt = now;
    this.opts.onTarget?.();
  }

  /**
   * The share of flexible load to keep, through `keepFraction`; the site turns
   * it into a budget against what the flexible load is now.
   */
  status(now: number): SignalStatus {
    const m = this.latest;
    const o = this.opts;
    let v: { state: SignalStatus["state"]; keepFraction: number | null; reason: string };
    const freshAt = m ? (m.issuedAt ?? this.receivedAt) : this.startedAt;
    // staleness on the exact age; whole seconds only for the words
    const fresh = now - freshAt <= o.staleS * 1000;
    const ageS = Math.round((now - freshAt) / 1000);
    if (m && fresh) {
      v = {
        state: m.keepFraction >= 1 ? "idle" : "active",
        keepFraction: m.keepFraction >= 1 ? null : m.keepFraction,
        reason: `target ${Math.round(m.keepFraction * 100)} % of flexible load`,
      };
    } else if (!m && fresh) {
      v = { state: "idle", keepFraction: null, reason: "no target yet" };
    } else {
      const quiet = m ? `no target for ${ageS} s` : `no target since the start (${ageS} s)`;
      v =
        o.failPolicy === "closed"
          ? {
              state: "stale",
              keepFraction: o.floorFraction,
              reason: `${quiet}: failPolicy closed, down to ${Math.round(o.floorFraction * 100)} %`,
            }
          : { state: "stale", keepFraction: null, reason: `${quiet}: failPolicy open, released` };
    }
    const same = v.state === this.last.state && v.keepFraction === (this.last.keepFraction ?? null);
    this.last = {
      ...this.last,
      state: v.state,
      reason: v.reason,
      budgetW: null,
      keepFraction: v.keepFraction,
      since: same ? this.last.since : now,
    };
    return this.last;
  }
}
