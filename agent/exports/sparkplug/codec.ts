// Sparkplug B payloads through the Eclipse Tahu codec (sparkplug-payload), so
// the protobuf is the maintained one, not a copy: births carry names, aliases
// and datatypes; data messages only aliases; deaths only bdSeq (NDEATH) or a
// seq (DDEATH).
import sparkplugPayload from "sparkplug-payload";
import type { UPayload } from "sparkplug-payload/lib/sparkplugbpayload.js";
import type { Aliases, SpMetric } from "./metrics.ts";

const codec = sparkplugPayload.get("spBv1.0");
if (!codec) throw new Error("sparkplug-payload has no spBv1.0 codec");
const spB = codec;

export type { UPayload };

const BDSEQ_METRIC = "bdSeq";

export function encode(p: UPayload): Buffer {
  return Buffer.from(spB.encodePayload(p));
}

export function decode(bytes: Uint8Array): UPayload {
  return spB.decodePayload(bytes);
}

/** A birth: every metric with its name, alias and datatype. */
export interface BirthInput {
  deviceId: string | null;
  metrics: readonly SpMetric[];
  aliases: Aliases;
  seq: number;
  now: number;
  bdSeq?: number;
}

export function birthPayload({ deviceId, metrics, aliases, seq, now, bdSeq }: BirthInput): Buffer {
  const out: NonNullable<UPayload["metrics"]> = [];
  if (bdSeq !== undefined) out.push({ name: BDSEQ_METRIC, type: "UInt64", value: bdSeq, timestamp: now });
  for (const m of metrics) {
    out.push({
      name: m.name,
      alias: aliases.of(deviceId, m.name),
      type: m.type,
      value: m.value,
      timestamp: now,
    });
  }
  return encode({ timestamp: now, seq, metrics: out });
}

/** A data message: the changed metrics by alias only (the birth told their names and types). */
export interface DataInput {
  deviceId: string | null;
  metrics: readonly SpMetric[];
  aliases: Aliases;
  seq: number;
  now: number;
}

export function dataPayload({ deviceId, metrics, aliases, seq, now }: DataInput): Buffer {
  return encode({
    timestamp: now,
    seq,
    metrics: metrics.map((m) => ({
      alias: aliases.of(deviceId, m.name),
      type: m.type,
      value: m.value,
      timestamp: now,
    })),
  });
}

/** NDEATH: the bdSeq of the session it ends, and nothing else (no seq). */
export function nodeDeathPayload(bdSeq: number, now: number): Buffer {
  return encode({ timestamp: now, metrics: [{ name: BDSEQ_METRIC, type: "UInt64", value: bdSeq }] });
}

/** DDEATH: a seq and a timestamp. */
export function deviceDeathPayload(seq: number, now: number): Buffer {
  return encode({ timestamp: now, seq });
}
