// Reads one meter through its profile: planned block reads, decoded values,
// plausibility checks. read() never throws; a failed or implausible read comes
// back as `ok: false` with a reason and no values, so a stale or wrong number
// is never presented as fresh.
import type { MeterReading } from "../types.ts";
import type { ModbusConnection } from "./client.ts";
import { classifyModbusError } from "./client.ts";
import { decodeValue, planReads, type ReadBlock } from "./decode.ts";
import type { Measurement, MeterProfile } from "./profile.ts";

export class ModbusMeter {
  readonly connection: ModbusConnection;
  readonly unitId: number;
  readonly profile: MeterProfile;
  private readonly blocks: ReadBlock[];

  constructor(connection: ModbusConnection, unitId: number, profile: MeterProfile) {
    this.connection = connection;
    this.unitId = unitId;
    this.profile = profile;
    this.blocks = planReads(profile.registers, profile.maxGap);
  }

  /** Number of Modbus requests one read takes (contiguous registers are merged). */
  get requestsPerRead(): number {
    return this.blocks.length;
  }

  async read(now: () => number = Date.now): Promise<MeterReading> {
    const values: Partial<Record<Measurement, number | null>> = {};
    try {
      for (const block of this.blocks) {
        const words = await this.connection.readRegisters(
          this.unitId,
          block.function,
          block.address,
          block.length,
        );
        for (const { name, spec } of block.fields) {
          const v = decodeValue(words, spec.address - block.address, spec);
          if (
            v !== null &&
            ((spec.min !== undefined && v < spec.min) || (spec.max !== undefined && v > spec.max))
          ) {
            return emptyReading(
              now(),
              `implausible ${name}: ${v} outside [${spec.min ?? "-∞"}, ${spec.max ?? "∞"}]`,
            );
          }
          values[name] = v;
        }
      }
    } catch (err) {
      const e = classifyModbusError(err);
      return emptyReading(now(), `${e.code}: ${e.message}`);
    }
    const powerW = values.powerW ?? null;
    if (powerW === null) return emptyReading(now(), "power register returned no value (NaN)");
    return {
      at: now(),
      ok: true,
      reason: null,
      powerW,
      energyKwh: values.energyKwh ?? null,
      voltageV: [values.voltageL1V ?? null, values.voltageL2V ?? null, values.voltageL3V ?? null],
      currentA: [values.currentL1A ?? null, values.currentL2A ?? null, values.currentL3A ?? null],
      frequencyHz: values.frequencyHz ?? null,
      powerFactor: values.powerFactor ?? null,
    };
  }
}

export function emptyReading(at: number, reason: string): MeterReading {
  return {
    at,
    ok: false,
    reason,
    powerW: null,
    energyKwh: null,
    voltageV: [null, null, null],
    currentA: [null, null, null],
    frequencyHz: null,
    powerFactor: null,
  };
}
