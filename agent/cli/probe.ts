// `wattkeeper probe miner HOST[:PORT] [--dialect D] [--json]`: the field tech's
// "what is this miner and what can the agent do with it?".
import { parseArgs } from "node:util";
import { loadModelFiles } from "../../config/load.ts";
import { formatHashrateThs } from "../../config/units.ts";
import { createMiner } from "../../drivers/cgminer/miner.ts";
import { ModelCatalog } from "../../drivers/cgminer/models.ts";
import { printable, terminalJson } from "../../drivers/printable.ts";
import { type Dialect, DialectSchema } from "../../drivers/types.ts";
import { parseHostPort } from "./host-arg.ts";
import { minerJson } from "./miner-json.ts";
import { probeGpuCommand } from "./probe-gpu.ts";
import { probeMeterCommand } from "./probe-meter.ts";
import { probeSignalCommand } from "./probe-signal.ts";
import { UsageError } from "./usage.ts";

/** `probe KIND …`: one sub-command per device kind. */
export async function probeCommand(argv: string[], out = process.stdout): Promise<number> {
  const [kind, ...rest] = argv;
  switch (kind) {
    case "miner":
      return probeMinerCommand(rest, out);
    case "meter":
      return probeMeterCommand(rest, out);
    case "gpu":
      return probeGpuCommand(rest, out);
    case "signal":
      return probeSignalCommand(rest, out);
    default:
      throw new UsageError(
        kind === undefined
          ? "probe needs a device kind: probe miner HOST[:PORT] | probe meter (--tcp H:P | --rtu DEV --baud N) --unit N --profile P | probe gpu [USER@]HOST[:PORT] --key FILE --host-key SHA256:…"
          : `cannot probe '${kind}': try 'probe miner', 'probe meter', 'probe gpu' or 'probe signal'`,
      );
  }
}

async function probeMinerCommand(rest: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      dialect: { type: "string", default: "auto" },
      json: { type: "boolean", default: false },
      timeout: { type: "string", default: "5000" },
    },
  });
  if (positionals.length !== 1) throw new UsageError("probe miner takes exactly one HOST[:PORT]");
  const dialect = DialectSchema.safeParse(values.dialect);
  if (!dialect.success) throw new UsageError(`--dialect must be one of ${DialectSchema.options.join(", ")}`);
  const timeoutMs = Number(values.timeout);
  if (!(timeoutMs > 0)) throw new UsageError("--timeout is in milliseconds and must be positive");
  const { host, port } = parseHostPort(positionals[0]!, 4028);

  // the shipped models: the nameplate estimate where the firmware reports no watts
  const models = new ModelCatalog(await loadModelFiles([]));
  const miner = createMiner({ host, port, models }, dialect.data as Dialect, {
    exchange: { connectTimeoutMs: timeoutMs, readTimeoutMs: timeoutMs },
  });
  const reading = await miner.read();
  // what it can do is known once the probe of its write path has answered
  await miner.confirmed();
  await miner.close();
  const json = minerJson({ host, port, miner, reading });
  if (values.json) out.write(`${terminalJson(json, 2)}\n`);
  else out.write(describe(json));
  // 1: nothing answered, or something answered that is not a miner we can read
  const bad =
    reading.state === "unreachable" ||
    !json.usable ||
    /INVALID_REPLY|ACCESS_DENIED/.test(reading.reason ?? "");
  return bad ? 1 : 0;
}

function describe(j: ReturnType<typeof minerJson>): string {
  // every string from the device is escaped: a model or pool URL must not drive the terminal
  const t = (s: string | null, none = "unknown") => (s === null ? none : printable(s));
  const can =
    j.state === "unreachable"
      ? "unknown (the miner did not answer)"
      : j.capabilities.join(", ") || "read only";
  const lines = [
    `${j.host}:${j.port}  ${j.state}${j.reason ? ` (${printable(j.reason)})` : ""}`,
    `dialect       ${t(j.dialect)}`,
    `model         ${t(j.model)}   firmware ${t(j.firmware)}`,
    `hashrate      ${j.hashrateThs === null ? "n/a" : formatHashrateThs(j.hashrateThs)}`,
    `power         ${j.powerW === null ? "n/a" : `${j.powerW} W`}${j.powerLimitW ? `  (limit ${j.powerLimitW} W)` : ""}`,
    `temps         boards ${j.boardTempsC.join("/") || "n/a"} °C, chip max ${j.chipTempMaxC ?? "n/a"} °C`,
    `fans          ${j.fanRpm.join("/") || "n/a"} rpm`,
    `uptime        ${j.uptimeS === null ? "n/a" : `${j.uptimeS} s`}`,
    ...j.pools.map((p, i) => `pool ${i}        ${t(p.url, "?")} (${t(p.user, "?")}) ${t(p.status, "")}`),
    `can           ${can}`,
    ...j.withdrawn.map((w) => `cannot        ${w.capability}: ${printable(w.reason)}`),
  ];
  return `${lines.join("\n")}\n`;
}
