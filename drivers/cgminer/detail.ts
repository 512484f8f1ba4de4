// Read tiers: most reads ask for the essentials only (state, hashrate, power,
// limits: what control needs) and one read a period asks for the detail too
// (temperatures, fans, boards, pools). A summary-only read gets the detail
// fields of the last full read, with that read's time in `detailAt`.
import { samePoolsKept } from "../shared.ts";
import type { MINER_DETAIL_FIELDS, MinerReading } from "../types.ts";

/**
 * A detail read is due this share of its period early: sweeps start a period apart but each
 * miner's read lands a few ms earlier or later, and an exact deadline would push every other
 * detail read to the sweep after.
 */
const DETAIL_EARLY = 0.1;

type DetailFields = Pick<MinerReading, (typeof MINER_DETAIL_FIELDS)[number]>;
/** What the version and stats commands say of the unit: a summary-only read does not ask them. */
type Identity = Pick<MinerReading, "firmware" | "model">;

export interface TierOptions {
  /**
   * How often a read includes the detail (temperatures, fans, boards, pools), ms; the reads
   * between ask for the essentials only. 0 (the default): every read is a full one.
   */
  detailEveryMs?: number;
  /** Spreads the first detail period over miners (tests pass a fixed one). */
  random?: () => number;
}

export class DetailTiers {
  private readonly detailEveryMs: number;
  private readonly random: () => number;
  private readonly now: () => number;
  /**
   * When the last full read was; null = none yet (or the miner went away). Its detail fields
   * are kept as fields of this object, not as objects of their own: three fewer per miner.
   */
  private keptAt: number | null = null;
  private keptBoardTempsC: DetailFields["boardTempsC"] | null = null;
  private keptChipTempMaxC: DetailFields["chipTempMaxC"] = null;
  private keptFanRpm: DetailFields["fanRpm"] | null = null;
  private keptBoards: DetailFields["boards"] = undefined;
  private keptPools: DetailFields["pools"] | null = null;
  private keptFirmware: Identity["firmware"] = null;
  private keptModel: Identity["model"] = null;
  private nextDetailAt = 0;

  constructor(opts: TierOptions & { now: () => number }) {
    this.detailEveryMs = Math.max(0, opts.detailEveryMs ?? 0);
    this.random = opts.random ?? Math.random;
    this.now = opts.now;
  }

  /** Whether the next read asks for the detail too: always without tiers, at first contact, then once a period. */
  due(): boolean {
    return this.detailEveryMs === 0 || this.keptAt === null || this.now() >= this.nextDetailAt;
  }

  /**
   * Keeps a full read's detail fields, or fills a summary-only read's from the last full
   * one (with its time in detailAt). An unreachable miner keeps nothing: the next read is full.
   */
  fill(reading: MinerReading): MinerReading {
    if (reading.state === "unreachable") {
      this.forget();
      return reading;
    }
    if (reading.detailAt === null) {
      if (this.keptAt === null) return reading;
      // the dialect's reading is this read's own: filled in place, not copied
      reading.boardTempsC = this.keptBoardTempsC ?? reading.boardTempsC;
      reading.chipTempMaxC = this.keptChipTempMaxC;
      reading.fanRpm = this.keptFanRpm ?? reading.fanRpm;
      reading.boards = this.keptBoards;
      reading.pools = this.keptPools ?? reading.pools;
      reading.firmware = this.keptFirmware ?? reading.firmware;
      reading.model = this.keptModel ?? reading.model;
      reading.detailAt = this.keptAt;
      return reading;
    }
    const first = this.keptAt === null;
    reading.pools = samePoolsKept(this.keptPools, reading.pools);
    this.keptBoardTempsC = reading.boardTempsC;
    this.keptChipTempMaxC = reading.chipTempMaxC;
    this.keptFanRpm = reading.fanRpm;
    this.keptBoards = reading.boards;
    this.keptPools = reading.pools;
    this.keptFirmware = reading.firmware;
    this.keptModel = reading.model;
    this.keptAt = reading.at;
    // the first period is spread over the fleet, so detail reads do not all fall on one sweep
    const periodMs = first ? this.random() * this.detailEveryMs : this.detailEveryMs * (1 - DETAIL_EARLY);
    this.nextDetailAt = reading.at + periodMs;
    return reading;
  }

  private forget(): void {
    this.keptAt = null;
    this.keptBoardTempsC = null;
    this.keptFanRpm = null;
    this.keptChipTempMaxC = null;
    this.keptBoards = undefined;
    this.keptPools = null;
    this.keptFirmware = null;
    this.keptModel = null;
  }
}
