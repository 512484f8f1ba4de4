// The site's topic names under `<topicRoot>/<siteId>` (docs/design.md, Contracts).
export const COMMAND_NAMES = ["budget/set", "budget/clear", "mode/set", "device/action", "ping"] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

export function isCommandName(s: string): s is CommandName {
  return (COMMAND_NAMES as readonly string[]).includes(s);
}

export class Topics {
  readonly base: string;
  constructor(topicRoot: string, siteId: string) {
    this.base = `${topicRoot}/${siteId}`;
  }
  get status() {
    return `${this.base}/status`;
  }
  get telemetrySite() {
    return `${this.base}/telemetry/site`;
  }
  get telemetryDevices() {
    return `${this.base}/telemetry/devices`;
  }
  get state() {
    return `${this.base}/state`;
  }
  get events() {
    return `${this.base}/events`;
  }
  /** Every inbound command: one subscription. */
  get requestFilter() {
    return `${this.base}/request/#`;
  }
  request(name: string) {
    return `${this.base}/request/${name}`;
  }
  response(name: string) {
    return `${this.base}/response/${name}`;
  }
  /** The command name of a request topic, or null when the topic is not one. */
  commandOf(topic: string): string | null {
    const prefix = `${this.base}/request/`;
    return topic.startsWith(prefix) ? topic.slice(prefix.length) : null;
  }
}
