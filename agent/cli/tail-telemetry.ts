// `wattkeeper tail-telemetry`: subscribes to a site's `telemetry/devices`,
// rebuilds the fleet from full refreshes plus deltas (mqtt/telemetry-consumer.ts)
// and prints it each time a kind's poll cycle is complete: a table, or one JSON
// line per cycle with --json. Sequence gaps and messages that are not telemetry
// go to stderr. Runs until SIGINT/SIGTERM (exit 0); with --once it prints each
// kind once it is synced and exits (0, or 3 when --timeout passes first).
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { connect, type IClientOptions } from "mqtt";
import { BrokerUrlSchema } from "../../config/schema.ts";
import { withCredentials } from "../mqtt/link.ts";
import {
  type Applied,
  type DeviceFields,
  TelemetryConsumer,
  type TelemetryKind,
} from "../mqtt/telemetry-consumer.ts";
import { Topics } from "../mqtt/topics.ts";
import { BROKER_FLAGS, mqttVersionFlag, readFlagFile } from "./broker-args.ts";
import { UsageError } from "./usage.ts";

type Writer = { write(s: string): unknown };

interface TailOptions {
  url: string;
  protocolVersion: 4 | 5;
  ca?: string | null;
  username?: string | null;
  password?: string | null;
  topicRoot: string;
  siteId: string;
  json: boolean;
  /** Print each kind once it is synced, then stop. */
  once: boolean;
  kinds: TelemetryKind[];
  /** 0 = no limit. */
  timeoutMs: number;
  connectTimeoutMs?: number;
  signal?: AbortSignal;
  out: Writer;
  err: Writer;
}

const ALL_KINDS: TelemetryKind[] = ["miners", "gpus", "meters"];

const TAIL_USAGE = `tail-telemetry --broker URL --site ID [--json] [--once] [--kind miners,gpus,meters] [--timeout S]
               [--ca FILE] [--username U --password-file F] [--mqtt-version 4|5] [--topic-root ROOT]`;

function show(v: unknown): string {
  if (v === null || v === undefined) return "-";
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** A fixed-width table of the rebuilt devices, fields in the agent's order. */
function renderTable(fields: readonly string[], devices: readonly DeviceFields[]): string {
  const rows = devices.map((d) => fields.map((f) => show(d[f])));
  const widths = fields.map((f, i) => Math.max(f.length, ...rows.map((r) => r[i]!.length)));
  // text left, numbers right
  const numeric = fields.map((_, i) => rows.every((r) => r[i] === "-" || /^-?[\d.]+$/.test(r[i]!)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (numeric[i] && i > 0 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line([...fields]), ...rows.map(line)].join("\n");
}

/** Runs until the signal (or --once / --timeout); returns the exit code. */
async function tailTelemetry(o: TailOptions): Promise<number> {
  const topic = new Topics(o.topicRoot, o.siteId).telemetryDevices;
  const consumer = new TelemetryConsumer();
  const fieldsOf = new Map<TelemetryKind, readonly string[]>();
  const printed = new Set<TelemetryKind>();
  const opts: IClientOptions = {
    protocolVersion: o.protocolVersion,
    clientId: `wattkeeper-tail-${randomUUID().slice(0, 8)}`,
    reconnectPeriod: 2000,
    connectTimeout: o.connectTimeoutMs ?? 10_000,
    clean: true,
  };
  withCredentials(opts, o);
  const client = connect(o.url, opts);
  const warn = (s: string) => o.err.write(`wattkeeper tail-telemetry: ${s}\n`);

  const print = (kind: TelemetryKind, a: Extract<Applied, { complete: boolean }>) => {
    const st = consumer.status(kind);
    const devices = consumer.devices(kind);
    if (o.json) {
      o.out.write(
        `${JSON.stringify({
          kind,
          cycle: a.cycle,
          at: st.at,
          full: a.full,
          synced: st.synced,
          lastFullAt: st.lastFullAt,
          gaps: st.gaps,
          lostChunks: st.lostChunks,
          devices,
        })}\n`,
      );
      return;
    }
    const head = [
      kind,
      `cycle ${a.cycle}`,
      st.at ?? "",
      a.full ? "full refresh" : "delta",
      `${devices.length} devices`,
      st.synced ? "synced" : "NOT synced (waiting for a complete full refresh)",
      ...(st.gaps > 0 ? [`${st.gaps} gaps, ${st.lostChunks} chunks lost`] : []),
    ].join(" · ");
    const fields = fieldsOf.get(kind) ?? Object.keys(devices[0] ?? {});
    o.out.write(`${head}\n${devices.length > 0 ? `${renderTable(fields, devices)}\n` : ""}\n`);
  };

  return await new Promise<number>((resolve) => {
    let done = false;
    const finish = (code: number) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      o.signal?.removeEventListener("abort", onAbort);
      client.end(true);
      resolve(code);
    };
    const onAbort = () => finish(0);
    o.signal?.addEventListener("abort", onAbort);
    if (o.signal?.aborted) return finish(0);
    const timer =
      o.timeoutMs > 0
        ? setTimeout(() => {
            const missing = o.kinds.filter((k) => !printed.has(k));
            if (o.once)
              warn(`no complete full refresh of ${missing.join(", ")} within ${o.timeoutMs / 1000} s`);
            finish(o.once ? 3 : 0);
          }, o.timeoutMs)
        : undefined;
    client.on("error", (e) => warn(`broker ${o.url}: ${e.message}`));
    client.on("connect", () => {
      client.subscribeAsync(topic, { qos: 1 }).catch((e: Error) => warn(`subscribe ${topic}: ${e.message}`));
    });
    client.on("message", (_t, payload) => {
      const a = consumer.apply(payload);
      if (!a.ok) return warn(`skipped a message: ${a.error}`);
      if ("duplicate" in a) return;
      if (a.restarted) warn(`${a.kind}: the agent started again (sequence from 1)`);
      if (a.gap)
        warn(
          `${a.kind}: gap, expected seq ${a.gap.expected}, got ${a.gap.got} (${a.gap.got - a.gap.expected} chunks lost); not synced until the next complete full refresh`,
        );
      if (!a.complete || !o.kinds.includes(a.kind)) return;
      try {
        const m = JSON.parse(payload.toString()) as { fields: string[] };
        fieldsOf.set(a.kind, m.fields);
      } catch {}
      const synced = consumer.status(a.kind).synced;
      if (o.once) {
        if (!synced || printed.has(a.kind)) return;
        print(a.kind, a);
        printed.add(a.kind);
        if (o.kinds.every((k) => printed.has(k))) finish(0);
        return;
      }
      print(a.kind, a);
      printed.add(a.kind);
    });
  });
}

export interface TailIo {
  /** Ends the tail (Ctrl-C). */
  signal?: AbortSignal;
  out?: Writer;
  err?: Writer;
}

export async function tailTelemetryCommand(
  argv: string[],
  { signal, out = process.stdout, err = process.stderr }: TailIo = {},
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      broker: { type: "string" },
      site: { type: "string" },
      json: { type: "boolean", default: false },
      once: { type: "boolean", default: false },
      kind: { type: "string" },
      timeout: { type: "string" },
      ...BROKER_FLAGS,
    },
  });
  if (positionals.length > 0) throw new UsageError(`tail-telemetry takes no '${positionals[0]}'`);
  if (!values.broker)
    throw new UsageError(`tail-telemetry needs --broker URL\nUsage: wattkeeper ${TAIL_USAGE}`);
  if (!values.site) throw new UsageError(`tail-telemetry needs --site ID\nUsage: wattkeeper ${TAIL_USAGE}`);
  const url = BrokerUrlSchema.safeParse(values.broker);
  if (!url.success) throw new UsageError(`--broker: ${url.error.issues[0]?.message}`);
  const version = mqttVersionFlag(values["mqtt-version"]) ?? 5;
  const kinds = values.kind ? values.kind.split(",").map((k) => k.trim()) : ALL_KINDS;
  for (const k of kinds)
    if (!(ALL_KINDS as string[]).includes(k))
      throw new UsageError(`--kind expects miners, gpus or meters (comma-separated), got '${k}'`);
  // --once waits at most a refresh period and a half by default (fullEveryS defaults to 300 s)
  const timeoutS = values.timeout === undefined ? (values.once ? 450 : 0) : Number(values.timeout);
  if (!(timeoutS >= 0)) throw new UsageError(`--timeout expects seconds ≥ 0, got '${values.timeout}'`);
  return tailTelemetry({
    url: values.broker,
    protocolVersion: version,
    ca: readFlagFile(values.ca, "--ca"),
    username: values.username ?? null,
    password: readFlagFile(values["password-file"], "--password-file"),
    topicRoot: values["topic-root"] ?? "wattkeeper/v1",
    siteId: values.site,
    json: values.json,
    once: values.once,
    kinds: kinds as TelemetryKind[],
    timeoutMs: timeoutS * 1000,
    signal,
    out,
    err,
  });
}
