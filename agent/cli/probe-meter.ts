// `wattkeeper probe meter (--tcp H:P | --rtu-over-tcp H:P | --rtu DEV --baud N
// [--parity P]) --unit N --profile P [--timeout MS] [--json]`: the field tech's
// "is the meter wired right?". One read through the same driver the agent
// uses; exit 0 with a reading, 1 without one (no reply, exception, implausible).
import { parseArgs } from "node:util";
import type { Problem } from "../../config/load/problems.ts";
import { meterProfile } from "../../config/load/profiles.ts";
import type { MeterEntry } from "../../config/schema.ts";
import { describeEndpoint, ModbusConnection, type ModbusEndpoint } from "../../drivers/modbus/client.ts";
import { ModbusMeter } from "../../drivers/modbus/meter.ts";
import type { MeterProfile } from "../../drivers/modbus/profile.ts";
import { printable, terminalJson } from "../../drivers/printable.ts";
import type { MeterReading } from "../../drivers/types.ts";
import { parseHostPort } from "./host-arg.ts";
import { UsageError } from "./usage.ts";

/** The reading's values; additions to the contract shape: whether the read worked, why not, and where. */
type MeterJson = { profile: string; unitId: number } & Pick<
  MeterReading,
  "powerW" | "energyKwh" | "voltageV" | "currentA" | "frequencyHz" | "powerFactor" | "ok" | "reason"
> & { endpoint: string };

const PARITIES = ["none", "even", "odd"] as const;

function intFlag(
  value: string | undefined,
  name: string,
  { min, max }: { min: number; max: number },
): number {
  const n = Number(value);
  if (value === undefined || !/^\d+$/.test(value) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer ${min}–${max}, got "${value ?? ""}"`);
  }
  return n;
}

function endpointFrom(values: Record<string, string | boolean | undefined>): ModbusEndpoint {
  const given = (["tcp", "rtu-over-tcp", "rtu"] as const).filter((k) => values[k] !== undefined);
  if (given.length !== 1) {
    throw new UsageError(
      given.length === 0
        ? "probe meter needs --tcp HOST:PORT, --rtu-over-tcp HOST:PORT or --rtu DEVICE --baud N"
        : `give only one of --tcp, --rtu-over-tcp, --rtu (got ${given.map((g) => `--${g}`).join(" and ")})`,
    );
  }
  const kind = given[0]!;
  if (kind !== "rtu") {
    if (values.baud !== undefined || values.parity !== undefined) {
      throw new UsageError("--baud and --parity are for --rtu only");
    }
    const { host, port } = parseHostPort(String(values[kind]), 502);
    return { kind: kind === "tcp" ? "tcp" : "rtuOverTcp", host, port };
  }
  if (values.baud === undefined) throw new UsageError("--rtu needs --baud N (e.g. 9600)");
  const baudRate = intFlag(values.baud as string, "baud", { min: 300, max: 4_000_000 });
  const parity = (values.parity ?? "none") as string;
  if (!(PARITIES as readonly string[]).includes(parity)) {
    throw new UsageError(`--parity must be one of ${PARITIES.join(", ")}, got "${parity}"`);
  }
  return { kind: "rtu", path: String(values.rtu), baudRate, parity: parity as (typeof PARITIES)[number] };
}

async function loadProfile(name: string): Promise<MeterProfile> {
  const problems: Problem[] = [];
  const entry = { id: "probe", role: "site", profile: name } as unknown as MeterEntry;
  const profile = await meterProfile({ meter: entry, index: 0, cache: new Map(), problems });
  if (!profile) throw new UsageError(`--profile: ${problems.map((p) => p.message).join("; ")}`);
  return profile;
}

interface MeterJsonInput {
  profile: string;
  unitId: number;
  endpoint: string;
  reading: MeterReading;
}

function meterJson({ profile, unitId, endpoint, reading: r }: MeterJsonInput): MeterJson {
  return {
    profile,
    unitId,
    powerW: r.powerW,
    energyKwh: r.energyKwh,
    voltageV: r.voltageV,
    currentA: r.currentA,
    frequencyHz: r.frequencyHz,
    powerFactor: r.powerFactor,
    ok: r.ok,
    reason: r.reason,
    endpoint,
  };
}

export async function probeMeterCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      tcp: { type: "string" },
      "rtu-over-tcp": { type: "string" },
      rtu: { type: "string" },
      baud: { type: "string" },
      parity: { type: "string" },
      unit: { type: "string" },
      profile: { type: "string" },
      timeout: { type: "string", default: "1000" },
      json: { type: "boolean", default: false },
    },
  });
  if (positionals.length > 0)
    throw new UsageError(`probe meter takes no positional argument (got '${positionals[0]}')`);
  const endpoint = endpointFrom(values);
  const unitId = intFlag(values.unit, "unit", { min: endpoint.kind === "rtu" ? 1 : 0, max: 247 });
  if (values.profile === undefined) throw new UsageError("probe meter needs --profile NAME (e.g. sdm630)");
  const timeoutMs = intFlag(values.timeout, "timeout", { min: 1, max: 600_000 });
  const profile = await loadProfile(values.profile);

  const connection = new ModbusConnection(endpoint, { timeoutMs, gapMs: 0 });
  const meter = new ModbusMeter(connection, { unitId, profile, frozenAfterMs: 0 });
  let reading: MeterReading;
  try {
    reading = await meter.read();
  } finally {
    await connection.close();
  }
  const json = meterJson({
    profile: values.profile,
    unitId,
    endpoint: describeEndpoint(endpoint),
    reading,
  });
  out.write(values.json ? `${terminalJson(json, 2)}\n` : describe(json));
  return reading.ok ? 0 : 1;
}

const show = (v: number | null, unit: string, digits = 1) =>
  v === null ? "n/a" : `${v.toFixed(digits)} ${unit}`;

function describe(j: MeterJson): string {
  const lines = [
    `${j.endpoint} unit ${j.unitId}  profile ${j.profile}  ${j.ok ? "ok" : `NO READING (${j.reason})`}`,
    `power         ${show(j.powerW, "W")}`,
    `energy        ${show(j.energyKwh, "kWh", 2)}`,
    `voltage       ${j.voltageV.map((v) => show(v, "V")).join(" / ")}`,
    `current       ${j.currentA.map((v) => show(v, "A", 2)).join(" / ")}`,
    `frequency     ${show(j.frequencyHz, "Hz", 2)}`,
    `power factor  ${j.powerFactor === null ? "n/a" : j.powerFactor.toFixed(3)}`,
  ];
  // device strings (a GPU name, a reason) are escaped: they must not drive the terminal
  return `${lines.map(printable).join("\n")}\n`;
}
