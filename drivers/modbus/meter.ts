// Reads one meter through its profile: planned block reads, decoded values,
// plausibility checks. read() never throws; a failed or implausible read comes
// back as `ok: false` with a reason and no values, so a stale or wrong number
// is never presented as fresh. Reasons start with a stable code
// (WK_MODBUS_TIMEOUT, _CRC, _EXCEPTION, _BACKOFF, _IMPLAUSIBLE, _NAN, _FROZEN…).
// Frozen values: a meter whose comms board still answers while its measuring
// core has hung serves the same words forever. Real meters' voltage and
// frequency registers move in their last bits from one read to the next, so
// every register word unchanged for `frozenAfterMs` marks the meter degraded.
import { codedReason } from "../errors.ts";
import type { MeterReading } from "../types.ts";
import type { ModbusConnection } from "./client.ts";
import { classifyModbusError } from "./client.ts";
import { decodeValue, planReads, type ReadBlock } from "./decode.ts";
import type { Measurement, MeterProfile } from "./profile.ts";

export interface ModbusMeterOptions {
  /** The meter's unit id on the connection. */
  unitId: number;
  profile: MeterProfile;
  /** Every register word unchanged for this long (ms) = frozen; 0 turns the check off. Default 60 s. */
  frozenAfterMs?: number;
}

const DEFAULT_FROZEN_AFTER_MS = 60_000;

export class ModbusMeter {
  readonly connection: ModbusConnection;
  readonly unitId: number;
  readonly profile: MeterProfile;
  private readonly blocks: ReadBlock[];
  private readonly frozenAfterMs: number;
  /** The raw words of the last complete read and since when they have not changed. */
  private lastWords: string | null = null;
  private unchangedSince = 0;

  constructor(connection: ModbusConnection, { unitId, profile, frozenAfterMs }: ModbusMeterOptions) {
    this.connection = connection;
    this.unitId = unitId;
    this.profile = profile;
    this.blocks = planReads(profile.registers, profile.maxGap);
    this.frozenAfterMs = frozenAfterMs ?? DEFAULT_FROZEN_AFTER_MS;
  }

  /** Number of Modbus requests one read takes (contiguous registers are merged). */
  get requestsPerRead(): number {
    return this.blocks.length;
  }

  async read(now: () => number = Date.now): Promise<MeterReading> {
    const values: Partial<Record<Measurement, number | null>> = {};
    const raw: number[][] = [];
    try {
      for (const block of this.blocks) {
        const words = await this.connection.readRegisters(this.unitId, {
          table: block.function,
          address: block.address,
          length: block.length,
        });
        raw.push(words);
        for (const { name, spec } of block.fields) {
          const v = decodeValue(words, spec.address - block.address, spec);
          if (
            v !== null &&
            ((spec.min !== undefined && v < spec.min) || (spec.max !== undefined && v > spec.max))
          ) {
            return emptyReading(
              now(),
              codedReason(
                "WK_MODBUS_IMPLAUSIBLE",
                `${name} ${v} outside [${spec.min ?? "-∞"}, ${spec.max ?? "∞"}]`,
              ),
            );
          }
          values[name] = v;
        }
      }
    } catch (err) {
      const e = classifyModbusError(err);
      return emptyReading(now(), `${e.code}: ${e.message}`);
    }
    const at = now();
    const signature = raw.map((w) => w.join(",")).join("|");
    if (signature !== this.lastWords) {
      this.lastWords = signature;
      this.unchangedSince = at;
    } else if (this.frozenAfterMs > 0 && at - this.unchangedSince >= this.frozenAfterMs) {
      const s = Math.round((at - this.unchangedSince) / 1000);
      return emptyReading(at, codedReason("WK_MODBUS_FROZEN", `every register unchanged for ${s} s`));
    }
    const powerW = values.powerW ?? null;
    if (powerW === null) return emptyReading(at, "WK_MODBUS_NAN: power register returned no value (NaN)");
    return {
      at,
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

function emptyReading(at: number, reason: string): MeterReading {
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
