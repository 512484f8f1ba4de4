// Sparkplug B 3.0 topic names of one edge node, and the reading of the topics
// it subscribes to (its commands and the primary host's STATE). The namespace
// is spBv1.0; group, edge node and device ids are single topic levels (the
// config refuses "/", "+" and "#" in them, and device ids are config ids).

const NAMESPACE = "spBv1.0";

export type NodeMessage = "NBIRTH" | "NDEATH" | "NDATA" | "NCMD";
export type DeviceMessage = "DBIRTH" | "DDEATH" | "DDATA" | "DCMD";

/** What an incoming topic is to this node: a node command, a device command, the primary host's STATE. */
export type Incoming =
  | { kind: "NCMD" }
  | { kind: "DCMD"; deviceId: string }
  | { kind: "STATE"; hostId: string }
  | null;

export class SparkplugTopics {
  constructor(
    readonly groupId: string,
    readonly edgeNodeId: string,
  ) {}

  node(type: NodeMessage): string {
    return `${NAMESPACE}/${this.groupId}/${type}/${this.edgeNodeId}`;
  }

  device(type: DeviceMessage, deviceId: string): string {
    return `${NAMESPACE}/${this.groupId}/${type}/${this.edgeNodeId}/${deviceId}`;
  }

  /** The primary host application's retained STATE topic (Sparkplug 3.0). */
  static state(hostId: string): string {
    return `${NAMESPACE}/STATE/${hostId}`;
  }

  /** What the node subscribes to: its NCMD, every device's DCMD, and the primary host's STATE. */
  subscriptions(primaryHostId: string | null): string[] {
    const t = [this.node("NCMD"), `${NAMESPACE}/${this.groupId}/DCMD/${this.edgeNodeId}/+`];
    if (primaryHostId) t.push(SparkplugTopics.state(primaryHostId));
    return t;
  }

  parse(topic: string): Incoming {
    const p = topic.split("/");
    if (p[0] !== NAMESPACE) return null;
    if (p.length === 3 && p[1] === "STATE" && p[2]) return { kind: "STATE", hostId: p[2] };
    if (p[1] !== this.groupId || p[3] !== this.edgeNodeId) return null;
    if (p.length === 4 && p[2] === "NCMD") return { kind: "NCMD" };
    if (p.length === 5 && p[2] === "DCMD" && p[4]) return { kind: "DCMD", deviceId: p[4] };
    return null;
  }
}

/** The sequence number after `seq`: 0–255, wrapping (every message after NBIRTH takes the next one). */
export function nextSeq(seq: number): number {
  return (seq + 1) & 0xff;
}
