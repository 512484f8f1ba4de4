// `wattkeeper probe signal (modbus|target|openadr) --config FILE [--json]`:
// the field tech's "is the grid link working?", read through the same code
// the agent uses. openadr: logs in to the VTN and lists the programs and the
// event intervals the VEN would follow; modbus: reads the setpoint server of a
// running agent as the RTU would; target: waits for the aggregator's next (or
// retained) target on its broker. Exit 0 with an answer, 1 without one.
import modbusSerial from "modbus-serial";
import { connect } from "mqtt";
import { loadConfigOrReport } from "../../config/load.ts";
import type { SiteConfig } from "../../config/schema.ts";
import { printable, terminalJson } from "../../drivers/printable.ts";
import { withCredentials } from "../mqtt/link.ts";
import { silentLogger } from "../runtime/logger.ts";
import { parseTargetMessage } from "../signals/mqtt-target.ts";
import { venFromConfig } from "../signals/openadr/ven.ts";
import { commandArgs, type Out, UsageError } from "./usage.ts";

export async function probeSignalCommand(argv: string[], out: Out = process.stdout): Promise<number> {
  const { values, positionals } = commandArgs(argv, {
    config: { type: "string", short: "c" },
    json: { type: "boolean", default: false },
    wait: { type: "string", default: "10" },
  });
  const [kind, ...extra] = positionals;
  if (!kind || !["modbus", "target", "openadr"].includes(kind) || extra.length > 0) {
    throw new UsageError("probe signal takes one of modbus, target, openadr, and --config FILE");
  }
  if (!values.config) throw new UsageError("probe signal needs --config FILE (the agent's config)");
  const loaded = await loadConfigOrReport(values.config, { strictFiles: true });
  if (!loaded) return 2;
  const { config } = loaded;
  const waitS = Number(values.wait);
  if (!(waitS > 0)) throw new UsageError("--wait is in seconds and must be positive");
  const r =
    kind === "openadr"
      ? await openadr(config)
      : kind === "modbus"
        ? await modbus(config)
        : await target(config, waitS);
  out.write(values.json ? `${terminalJson(r.json, 2)}\n` : `${r.lines.map(printable).join("\n")}\n`);
  return r.ok ? 0 : 1;
}

interface Result {
  ok: boolean;
  json: Record<string, unknown>;
  lines: string[];
}

function section<T>(config: SiteConfig, key: "openadr" | "modbusServer" | "target"): T {
  const s = config.signals?.[key];
  if (!s) throw new UsageError(`${config.file} has no signals.${key} section`);
  return s as T;
}

async function openadr(config: SiteConfig): Promise<Result> {
  const a = section<NonNullable<NonNullable<SiteConfig["signals"]>["openadr"]>>(config, "openadr");
  const ven = venFromConfig(a, {
    readSite: () => ({
      powerW: null,
      budgetW: null,
      flexibleW: 0,
      loopHealthy: true,
      meterOk: false,
      failsafe: false,
    }),
    logger: silentLogger(),
  });
  await ven.poll();
  const s = ven.schedule();
  const now = Date.now();
  const intervals = s.intervals.filter((i) => i.endMs > now);
  const json = {
    vtn: a.vtnUrl,
    ok: s.error === null,
    error: s.error,
    programs: a.programs.map((p) => ({ name: p, onVtn: !s.missing.includes(p) })),
    intervals: intervals.map((i) => ({
      event: i.eventName ?? i.eventId,
      interval: i.intervalId,
      start: new Date(i.startMs).toISOString(),
      end: Number.isFinite(i.endMs) ? new Date(i.endMs).toISOString() : null,
      budgetW: i.budgetW,
      what: i.what,
      inForce: i.startMs <= now,
    })),
  };
  const lines = [
    `${a.vtnUrl}  ${s.error ? `FAILED: ${s.error}` : "answering"}`,
    ...json.programs.map((p) => `program ${p.name}  ${p.onVtn ? "on the VTN" : "NOT on the VTN"}`),
    ...(json.intervals.length === 0
      ? ["no event interval now or to come"]
      : json.intervals.map(
          (i) =>
            `${i.inForce ? "NOW  " : "next "} ${i.event} #${i.interval}  ${i.start} → ${i.end ?? "further notice"}  ${i.what}`,
        )),
  ];
  return { ok: s.error === null, json, lines };
}

async function modbus(config: SiteConfig): Promise<Result> {
  const m = section<NonNullable<NonNullable<SiteConfig["signals"]>["modbusServer"]>>(config, "modbusServer");
  const host = m.listen.host === "0.0.0.0" ? "127.0.0.1" : m.listen.host;
  const client = new modbusSerial.default();
  client.setTimeout(2000);
  try {
    await client.connectTCP(host, { port: m.listen.port });
    client.setID(m.unitId);
    const h = (await client.readHoldingRegisters(0, 4)).data;
    const i = (await client.readInputRegisters(0, 8)).data;
    const u32 = (hi: number, lo: number) => hi * 65536 + lo;
    const s32 = (hi: number, lo: number) => u32(hi, lo) | 0;
    const json = {
      server: `${host}:${m.listen.port}`,
      ok: true,
      setpointKw: u32(h[0]!, h[1]!),
      enable: h[2],
      heartbeat: h[3],
      sitePowerKw: s32(i[0]!, i[1]!),
      budgetKw: u32(i[2]!, i[3]!),
      flexibleKw: u32(i[4]!, i[5]!),
      status: i[6],
      heartbeatEcho: i[7],
    };
    const bits = ["loop healthy", "setpoint in force", "meter ok", "failsafe", "setpoint stale"]
      .filter((_, b) => ((i[6] ?? 0) >> b) & 1)
      .join(", ");
    return {
      ok: true,
      json,
      lines: [
        `${json.server} unit ${m.unitId}  answering`,
        `setpoint   ${json.setpointKw} kW, enable ${json.enable}, heartbeat ${json.heartbeat}`,
        `site       ${json.sitePowerKw} kW, budget ${json.budgetKw} kW, flexible ${json.flexibleKw} kW`,
        `status     ${bits || "none"}`,
      ],
    };
  } catch (err) {
    const why = (err as Error).message;
    return {
      ok: false,
      json: { server: `${host}:${m.listen.port}`, ok: false, error: why },
      lines: [
        `${host}:${m.listen.port}  FAILED: ${why} (is the agent running, and is this host in signals.modbusServer.allow?)`,
      ],
    };
  } finally {
    await new Promise<void>((r) => client.close(() => r()));
  }
}

async function target(config: SiteConfig, waitS: number): Promise<Result> {
  const t = section<NonNullable<NonNullable<SiteConfig["signals"]>["target"]>>(config, "target");
  const own = config.mqtt;
  const url = t.url ?? own?.url;
  if (!url) throw new UsageError("signals.target has no url and the config has no mqtt section");
  const opts = withCredentials(
    {
      protocolVersion: t.url ? t.protocolVersion : (own?.protocolVersion ?? 4),
      reconnectPeriod: 0,
      connectTimeout: waitS * 1000,
    },
    t.url
      ? { username: t.username, password: t.password, ca: t.ca }
      : { username: own?.username, password: own?.password, ca: own?.ca, cert: own?.cert, key: own?.key },
  );
  const client = connect(url, opts);
  try {
    const got = await new Promise<{ payload: Buffer } | { error: string }>((resolve) => {
      const timer = setTimeout(
        () => resolve({ error: `no target on ${t.topic} within ${waitS} s` }),
        waitS * 1000,
      );
      client.on("error", (err) => {
        clearTimeout(timer);
        resolve({ error: `broker ${url}: ${err.message}` });
      });
      client.on("message", (_topic, payload) => {
        clearTimeout(timer);
        resolve({ payload });
      });
      client.once("connect", () => client.subscribe(t.topic, { qos: 1 }));
    });
    if ("error" in got)
      return {
        ok: false,
        json: { broker: url, topic: t.topic, ok: false, error: got.error },
        lines: [`${url} ${t.topic}  FAILED: ${got.error}`],
      };
    const m = parseTargetMessage(got.payload, Date.now());
    if ("error" in m) {
      return {
        ok: false,
        json: { broker: url, topic: t.topic, ok: false, error: m.error },
        lines: [`${t.topic}: a message, refused: ${m.error}`],
      };
    }
    const ageS = m.issuedAt === null ? null : Math.round((Date.now() - m.issuedAt) / 1000);
    const json = {
      broker: url,
      topic: t.topic,
      ok: true,
      targetPct: Math.round(m.keepFraction * 100),
      ageS,
      staleS: t.staleS,
    };
    return {
      ok: true,
      json,
      lines: [
        `${url} ${t.topic}  answering`,
        `target     ${json.targetPct} % of flexible load${ageS === null ? " (no timestamp)" : `, ${ageS} s old (stale after ${t.staleS} s)`}`,
      ],
    };
  } finally {
    client.end(true);
  }
}
