// The public `--json` shape of one miner (DESIGN: CLI `--json` shapes), shared
// by `probe miner` and `scan`. Fields may be null, never missing.
import type { Miner } from "../../drivers/cgminer/miner.ts";
import type { MinerReading } from "../../drivers/types.ts";

export interface MinerJson {
  host: string;
  port: number;
  dialect: string | null;
  model: string | null;
  firmware: string | null;
  state: MinerReading["state"];
  reason: string | null;
  hashrateThs: number | null;
  powerW: number | null;
  powerLimitW: number | null;
  boardTempsC: number[];
  chipTempMaxC: number | null;
  fanRpm: number[];
  pools: Array<{ url: string | null; user: string | null; status: string | null }>;
  uptimeS: number | null;
  capabilities: string[];
}

const round = (v: number | null, digits: number) => (v === null ? null : Number(v.toFixed(digits)));

export function minerJson(host: string, port: number, miner: Miner, r: MinerReading): MinerJson {
  return {
    host,
    port,
    dialect: miner.dialect,
    model: r.model,
    firmware: r.firmware,
    state: r.state,
    reason: r.reason,
    hashrateThs: round(r.hashrateThs, 3),
    powerW: round(r.powerW, 0),
    powerLimitW: r.powerLimitW,
    boardTempsC: r.boardTempsC,
    chipTempMaxC: r.chipTempMaxC,
    fanRpm: r.fanRpm,
    pools: r.pools,
    uptimeS: r.uptimeS,
    capabilities: [...miner.capabilities],
  };
}
