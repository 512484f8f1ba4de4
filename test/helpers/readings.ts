// A healthy miner's reading for tests and benches: hashing at 100 TH/s and 3 kW,
// no detail; `o` overrides any field.
import type { MinerReading } from "../../drivers/types.ts";

export function minerReading(o: Partial<MinerReading> = {}): MinerReading {
  return {
    at: Date.now(),
    state: "hashing",
    reason: null,
    hashrateThs: 100,
    powerW: 3000,
    powerEstimated: false,
    powerLimitW: null,
    boardTempsC: [],
    chipTempMaxC: null,
    fanRpm: [],
    pools: [],
    uptimeS: 100,
    firmware: null,
    model: null,
    ...o,
  };
}
