// `wattkeeper probe gpu [USER@]HOST[:PORT] --key FILE --host-key SHA256:… [--json]`:
// one GPU node's reading over SSH. An unknown or changed host key is refused
// and the message names the presented and the expected fingerprint.
import { parseArgs } from "node:util";
import { GpuNode } from "../../drivers/nvidia/node.ts";
import type { GpuNodeReading, GpuReading } from "../../drivers/nvidia/types.ts";
import { printable, terminalJson } from "../../drivers/printable.ts";
import { UsageError } from "./usage.ts";

const JSON_KEYS: (keyof GpuReading)[] = [
  "index",
  "uuid",
  "name",
  "powerW",
  "powerLimitW",
  "enforcedPowerLimitW",
  "minPowerLimitW",
  "maxPowerLimitW",
  "defaultPowerLimitW",
  "tempC",
  "memTempC",
  "utilPct",
  "memUsedMiB",
  "memTotalMiB",
  "smClockMHz",
  "fanPct",
  "pstate",
  "eccUncorrected",
  "busy",
];

/** The documented `--json` shape (plus port, state, reason, powerW, capabilities). */
interface GpuJsonInput {
  host: string;
  port: number;
  reading: GpuNodeReading;
  capabilities: string[];
}

function gpuJson({ host, port, reading, capabilities }: GpuJsonInput) {
  return {
    host,
    port,
    state: reading.state,
    reason: reading.reason,
    powerW: reading.powerW,
    capabilities,
    gpus: reading.gpus.map((g) => Object.fromEntries(JSON_KEYS.map((k) => [k, g[k] ?? null]))),
  };
}

function parseUserHostPort(spec: string): { user: string | null; host: string; port: number } {
  const m = /^(?:([^@\s]+)@)?(\[[^\]]+\]|[^:@\s]+)(?::(\d{1,5}))?$/.exec(spec.trim());
  const port = m?.[3] === undefined ? 22 : Number(m[3]);
  if (!m?.[2] || port < 1 || port > 65535) throw new UsageError(`expected [USER@]HOST[:PORT], got "${spec}"`);
  return { user: m[1] ?? null, host: m[2].replace(/^\[|\]$/g, ""), port };
}

export async function probeGpuCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    throw err instanceof UsageError ? err : new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) throw new UsageError("probe gpu takes exactly one [USER@]HOST[:PORT]");
  if (!values.key) throw new UsageError("probe gpu needs --key FILE (the SSH private key)");
  if (!values["host-key"] && !values["known-hosts"])
    throw new UsageError("probe gpu needs --host-key SHA256:… (or --known-hosts FILE): host keys are pinned");
  if (values["host-key"] && !/^SHA256:[A-Za-z0-9+/]{43}=?$/.test(values["host-key"]))
    throw new UsageError(
      `--host-key must be "SHA256:" and 43 base64 characters, got "${values["host-key"]}"`,
    );
  const timeoutMs = Number(values.timeout);
  if (!(timeoutMs > 0)) throw new UsageError("--timeout is in milliseconds and must be positive");
  const { user, host, port } = parseUserHostPort(positionals[0]!);

  const node = new GpuNode(
    {
      host,
      port,
      user: user ?? process.env.USER ?? "root",
      privateKeyFile: values.key,
      hostKeySha256: values["host-key"] ?? null,
      knownHostsFile: values["known-hosts"] ?? null,
      floorW: 0,
    },
    { commandTimeoutMs: timeoutMs, connectTimeoutMs: timeoutMs, keepaliveIntervalMs: 0, reapplyCaps: false },
  );
  let reading: GpuNodeReading;
  try {
    reading = await node.read();
  } finally {
    await node.stop();
  }
  const json = gpuJson({ host, port, reading, capabilities: [...node.capabilities()] });
  if (values.json) out.write(`${terminalJson(json, 2)}\n`);
  else out.write(describe(json));
  return reading.state === "ok" ? 0 : 1;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      key: { type: "string" },
      "host-key": { type: "string" },
      "known-hosts": { type: "string" },
      json: { type: "boolean", default: false },
      timeout: { type: "string", default: "10000" },
    },
  });
}

function describe(j: ReturnType<typeof gpuJson>): string {
  const n = (v: unknown, unit = "") => (v === null || v === undefined ? "n/a" : `${v}${unit}`);
  const lines = [
    `${j.host}:${j.port}  ${j.state}${j.reason ? ` (${j.reason})` : ""}`,
    `power         ${n(j.powerW, " W")} over ${j.gpus.length} GPU(s)`,
    ...j.gpus.map(
      (g) =>
        `gpu ${n(g.index)}  ${n(g.name)}  ${n(g.powerW, " W")} / limit ${n(g.enforcedPowerLimitW, " W")} [${n(g.minPowerLimitW)}–${n(g.maxPowerLimitW)}, default ${n(g.defaultPowerLimitW)}]  ${n(g.tempC, " °C")}  util ${n(g.utilPct, "%")}  mem ${n(g.memUsedMiB)}/${n(g.memTotalMiB)} MiB  ${g.busy === null ? "" : g.busy ? "busy" : "idle"}`,
    ),
    `can           ${j.capabilities.join(", ") || "nothing"}`,
  ];
  // device strings (a GPU name, a reason) are escaped: they must not drive the terminal
  return `${lines.map(printable).join("\n")}\n`;
}
