// What a miner's readings say about its hashing health, judged against its
// model (config/models via the ModelCatalog): a hashrate well below what the
// unit should do, a hashboard at zero while the others hash, chips or boards
// over the model's temperature. Pure: each reading updates a small record of
// since when each condition has held, kept with the miner's entry in the site
// state (and handed over on a reload), so a problem can say "since" and the
// hashrate check can ask for a sustained shortfall rather than one slow poll.
import type { KnownModel } from "../../drivers/cgminer/models.ts";
import type { MinerBoard, MinerReading } from "../../drivers/types.ts";

/** Below this share of the expected hashrate a miner is called slow… */
export const LOW_HASHRATE_FRACTION = 0.8;
/** …once it has been so for this long (one slow 5 s average is noise; ten minutes is a problem). */
export const LOW_HASHRATE_SUSTAIN_MS = 10 * 60_000;
/** A freshly started miner ramps for its model's wake-up time; without a model, for this long. */
const DEFAULT_WARMUP_S = 300;
/** Chip temperature at which a miner without a model limit is called hot (most SHA-256 ASICs throttle near 90–95 °C). */
export const HOT_CHIP_C = 90;

const DEAD_STATUS_RE = /dead|nostart|disabled|failed/i;

export interface MinerHealth {
  /** The hashrate the unit should do now (TH/s): the model's nominal, scaled down by a power limit below it. */
  expectedThs: number | null;
  /** When the hashrate first fell below LOW_HASHRATE_FRACTION of expectedThs, in an unbroken run of readings. */
  lowSince: number | null;
  /** The boards at zero (or dead) while others hash, by the firmware's numbers. */
  deadBoards: readonly number[];
  /** When the current set of dead boards was first seen. */
  deadSince: number | null;
  /** The temperature limits applied, and whether each comes from the model. */
  hot: HotLimits;
  /** When a chip or board first read at or over its limit, in an unbroken run. */
  hotSince: number | null;
}

export interface HotLimits {
  chipC: number;
  boardC: number | null;
  fromModel: boolean;
}

// A record is kept per miner, so what most miners have alike is shared, never copied:
// no dead board, and the limits of no model or of one model.
const NO_DEAD_BOARDS: readonly number[] = Object.freeze([]);
const DEFAULT_HOT: HotLimits = Object.freeze({ chipC: HOT_CHIP_C, boardC: null, fromModel: false });
const modelHot = new WeakMap<KnownModel, HotLimits>();

function hotLimitsOf(model: KnownModel | null): HotLimits {
  if (!model) return DEFAULT_HOT;
  let hot = modelHot.get(model);
  if (!hot) {
    hot = Object.freeze({
      chipC: model.hotChipC ?? HOT_CHIP_C,
      boardC: model.hotBoardC ?? null,
      fromModel: model.hotChipC != null || model.hotBoardC != null,
    });
    modelHot.set(model, hot);
  }
  return hot;
}

function emptyHealth(): MinerHealth {
  return {
    expectedThs: null,
    lowSince: null,
    deadBoards: NO_DEAD_BOARDS,
    deadSince: null,
    hot: DEFAULT_HOT,
    hotSince: null,
  };
}

/**
 * The hashrate a unit should do (TH/s): its model's nominal (else the
 * firmware's own ideal, summed over its boards), scaled by a power limit set
 * below the model's nameplate — linearly, which asks less than the chips do
 * (hashrate falls slower than power), so a trimmed miner is never called slow.
 */
export function expectedHashrateThs(reading: MinerReading, model: KnownModel | null): number | null {
  let ths = model?.nominalThs ?? null;
  if (ths === null) {
    const ideal = (reading.boards ?? []).map((b) => b.idealThs);
    if (ideal.length > 0 && ideal.every((x): x is number => x !== null))
      ths = ideal.reduce((a, b) => a + b, 0);
  }
  if (ths === null) return null;
  const limit = reading.powerLimitW;
  if (model && limit !== null && limit > 0 && limit < model.nominalW) ths *= limit / model.nominalW;
  return ths;
}

/** Boards at zero (or reported dead) while at least one other board hashes. */
export function deadBoardsOf(boards: readonly MinerBoard[]): number[] {
  if (!boards.some((b) => !boardDead(b) && (b.hashrateThs ?? 0) > 0)) return [];
  return boards.filter(boardDead).map((b) => b.index);
}

const boardDead = (b: MinerBoard): boolean =>
  DEAD_STATUS_RE.test(b.status ?? "") || b.hashrateThs === 0 || (b.chips !== null && b.chips === 0);

/** Whether the boards dead now are the ones in `known`, in order (no list built when they are). */
function sameDeadBoards(boards: readonly MinerBoard[], known: readonly number[]): boolean {
  let alive = false;
  let n = 0;
  for (const b of boards) {
    if (!boardDead(b)) {
      if ((b.hashrateThs ?? 0) > 0) alive = true;
    } else if (known[n++] !== b.index) n = Number.NaN;
  }
  // no board hashing: none is called dead
  return alive ? n === known.length : known.length === 0;
}

/** Whether a chip or a board reads at or over its limit (the reading's own maxima and each board's). */
function readsHot(reading: MinerReading, hot: HotLimits): boolean {
  if (reading.chipTempMaxC !== null && reading.chipTempMaxC >= hot.chipC) return true;
  const boardC = hot.boardC;
  if (boardC !== null) for (const t of reading.boardTempsC) if (t !== null && t >= boardC) return true;
  for (const b of reading.boards ?? []) {
    if (b.chipTempC !== null && b.chipTempC >= hot.chipC) return true;
    if (boardC !== null && b.boardTempC !== null && b.boardTempC >= boardC) return true;
  }
  return false;
}

/**
 * The record after one more reading; the previous one is not changed. When
 * nothing in it changes, the previous record itself is returned: this runs on
 * every poll of every miner, and almost every poll changes nothing.
 */
export function noteHealth(
  prev: MinerHealth | undefined,
  reading: MinerReading,
  model: KnownModel | null,
): MinerHealth {
  const p = prev ?? emptyHealth();
  const at = reading.at;
  // boards and temperatures come from the last detail read (poll tiers): a dead board or a hot
  // chip was first seen when that read was made, not when the summary after it came
  const detailAt = reading.detailAt ?? at;
  const hashing = reading.state === "hashing";
  const hot = hotLimitsOf(model);

  const expectedThs = hashing ? expectedHashrateThs(reading, model) : null;
  const warmupS = model?.wakeUpS ?? DEFAULT_WARMUP_S;
  // a unit still ramping after a boot or wake is not slow yet
  const warm = reading.uptimeS === null || reading.uptimeS >= warmupS;
  const low =
    hashing &&
    warm &&
    expectedThs !== null &&
    reading.hashrateThs !== null &&
    reading.hashrateThs < LOW_HASHRATE_FRACTION * expectedThs;

  const boards = reading.boards ?? NO_BOARDS;
  const sameDead = hashing ? sameDeadBoards(boards, p.deadBoards) : p.deadBoards.length === 0;
  let deadBoards = p.deadBoards;
  if (!sameDead) {
    const found = hashing ? deadBoardsOf(boards) : NO_DEAD_BOARDS;
    deadBoards = found.length === 0 ? NO_DEAD_BOARDS : found;
  }

  const isHot = reading.state !== "unreachable" && readsHot(reading, hot);

  const lowSince = low ? (p.lowSince ?? at) : null;
  const deadSince =
    deadBoards.length === 0 ? null : sameDead && p.deadSince !== null ? p.deadSince : detailAt;
  const hotSince = isHot ? (p.hotSince ?? detailAt) : null;
  if (
    prev &&
    expectedThs === p.expectedThs &&
    lowSince === p.lowSince &&
    deadBoards === p.deadBoards &&
    deadSince === p.deadSince &&
    hot === p.hot &&
    hotSince === p.hotSince
  )
    return prev;
  return { expectedThs, lowSince, deadBoards, deadSince, hot, hotSince };
}

const NO_BOARDS: readonly MinerBoard[] = Object.freeze([]);
