// The public `--json` shape of one miner (docs/design.md, CLI), shared by
// `probe miner` and `scan`. Fields may be null, never missing. Numbers carry
// their full precision: only the human output rounds.
import type { Miner } from "../../drivers/cgminer/miner.ts";
import type { ErrorCode } from "../../drivers/errors.ts";
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
  /** Capabilities the dialect declares that the miner did not confirm, with why. */
  withdrawn: Array<{ capability: string; reason: string }>;
  /**
   * False for a host that answers on the port but cannot be read as a miner
   * (closes at once: an API allow-list; answers HTTP or other bytes): `scan`
   * lists it apart and leaves it out of the config snippet.
   */
  usable: boolean;
}

const UNUSABLE: readonly ErrorCode[] = ["WK_CGMINER_EMPTY_REPLY", "WK_CGMINER_NOT_CGMINER_API"];

/** A host that answers but not as a readable miner, from its reading's reason code. */
export function unusableReason(r: MinerReading): string | null {
  const reason = r.reason ?? "";
  return UNUSABLE.some((code) => reason.includes(code)) ? reason : null;
}

export interface MinerJsonInput {
  host: string;
  port: number;
  miner: Miner;
  reading: MinerReading;
}

export function minerJson({ host, port, miner, reading: r }: MinerJsonInput): MinerJson {
  return {
    host,
    port,
    dialect: miner.dialect,
    model: r.model,
    firmware: r.firmware,
    state: r.state,
    reason: r.reason,
    hashrateThs: r.hashrateThs,
    powerW: r.powerW === null ? null : Math.round(r.powerW),
    powerLimitW: r.powerLimitW,
    boardTempsC: r.boardTempsC,
    chipTempMaxC: r.chipTempMaxC,
    fanRpm: r.fanRpm,
    pools: r.pools,
    uptimeS: r.uptimeS,
    capabilities: [...miner.capabilities],
    withdrawn: miner.withdrawn.map((w) => ({ capability: w.capability, reason: w.reason })),
    usable: unusableReason(r) === null,
  };
}
