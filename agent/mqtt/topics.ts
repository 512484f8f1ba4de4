// The site's topic names under `<topicRoot>/<siteId>` (docs/design.md, Contracts),
// and the one map from each topic kind to what it carries (TopicPayloads): a
// topic is typed by its kind, so publishing a payload on the wrong topic does
// not compile. Inbound payloads are parsed at the boundary with zod
// (EnvelopeSchema in payloads.ts, the bodies per command in commands.ts).
import type {
  CommandResponse,
  Envelope,
  EventPayload,
  RetainedState,
  SiteTelemetry,
  StatusPayload,
  TelemetryChunk,
} from "./payloads.ts";

const COMMAND_NAMES = ["budget/set", "budget/clear", "mode/set", "device/action", "ping"] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

export function isCommandName(s: string): s is CommandName {
  return (COMMAND_NAMES as readonly string[]).includes(s);
}

/** What each kind of topic carries. */
export interface TopicPayloads {
  /** Retained birth, and the LWT / clean-stop `{ online: false }`. */
  status: StatusPayload;
  telemetrySite: SiteTelemetry;
  /** Device telemetry, framed and chunked by chunkTelemetry (payloads.ts). */
  telemetryDevices: TelemetryChunk;
  /** Retained: what was asked and what is in force. */
  state: RetainedState;
  events: EventPayload;
  response: CommandResponse;
  /** Inbound: a signed command envelope (EnvelopeSchema; body by name, BODY_SCHEMAS). */
  request: Envelope;
}

export type TopicKind = keyof TopicPayloads;

declare const topicKind: unique symbol;
/** A topic string that says which kind of payload it carries. */
export type Topic<K extends TopicKind> = string & { readonly [topicKind]: K };

/** The bytes of a payload, for its own kind of topic only (a chunk is already framed). */
export function encodePayload<K extends TopicKind>(_topic: Topic<K>, payload: TopicPayloads[K]): Buffer {
  return Buffer.isBuffer(payload) ? payload : Buffer.from(JSON.stringify(payload));
}

const topic = <K extends TopicKind>(s: string) => s as Topic<K>;

export class Topics {
  readonly base: string;
  constructor(topicRoot: string, siteId: string) {
    this.base = `${topicRoot}/${siteId}`;
  }
  get status() {
    return topic<"status">(`${this.base}/status`);
  }
  get telemetrySite() {
    return topic<"telemetrySite">(`${this.base}/telemetry/site`);
  }
  get telemetryDevices() {
    return topic<"telemetryDevices">(`${this.base}/telemetry/devices`);
  }
  get state() {
    return topic<"state">(`${this.base}/state`);
  }
  get events() {
    return topic<"events">(`${this.base}/events`);
  }
  /** Every inbound command: one subscription. */
  get requestFilter() {
    return `${this.base}/request/#`;
  }
  request(name: string) {
    return topic<"request">(`${this.base}/request/${name}`);
  }
  response(name: string) {
    return topic<"response">(`${this.base}/response/${name}`);
  }
  /** The command name of a request topic, or null when the topic is not one. */
  commandOf(topic: string): string | null {
    const prefix = `${this.base}/request/`;
    return topic.startsWith(prefix) ? topic.slice(prefix.length) : null;
  }
}
