// Values that repeat across a fleet, stored once. Every miner's reading carries
// the same few pool URLs, firmware names and models, and each parse makes its
// own copy of them: at 20,000 miners that was about 5 MiB of equal strings.
// The tables are bounded, so text a device makes up (an error message with a
// counter in it) cannot grow them without end: once full, new text is kept as
// it came.
import type { MinerCapability, MinerReading, PoolInfo } from "./types.ts";

/** Distinct texts kept: far more than a site's pools, firmwares and models. */
const MAX_SHARED_TEXTS = 4096;
/** Texts longer than this are not shared (no pool URL or firmware name is this long). */
const MAX_SHARED_LENGTH = 256;

const texts = new Map<string, string>();

/** The one stored copy of a text that many devices report alike (a pool URL, a firmware name). */
export function sharedText<T extends string | null | undefined>(text: T): T {
  if (typeof text !== "string" || text.length > MAX_SHARED_LENGTH) return text;
  const known = texts.get(text);
  if (known !== undefined) return known as T;
  if (texts.size < MAX_SHARED_TEXTS) texts.set(text, text);
  return text;
}

/**
 * Swaps a fresh reading's fleet-wide texts for their shared copies, in place: the reading is
 * the read's own, and the objects it shares with a dialect's notes (its pools) gain too.
 */
export function shareReadingTexts(reading: MinerReading): MinerReading {
  reading.firmware = sharedText(reading.firmware);
  reading.model = sharedText(reading.model);
  for (const pool of reading.pools) {
    pool.url = sharedText(pool.url);
    pool.status = sharedText(pool.status);
  }
  if (reading.boards) for (const board of reading.boards) board.status = sharedText(board.status);
  return reading;
}

/**
 * The pools a miner reported before, when a new read reports the same ones (the usual case:
 * pools change when an operator changes them). Its new copy then dies young instead of
 * living a detail period in the old generation, beside the one it replaces.
 */
export function samePoolsKept(before: readonly PoolInfo[] | null | undefined, now: PoolInfo[]): PoolInfo[] {
  if (!before || before === now || before.length !== now.length) return now;
  for (let i = 0; i < now.length; i++) {
    const a = before[i]!;
    const b = now[i]!;
    if (a.url !== b.url || a.user !== b.user || a.status !== b.status) return now;
  }
  return before as PoolInfo[];
}

const numberLists = new Map<string, readonly number[]>();
/** Distinct number lists kept: a site's models each have one or two (power steps, profiles' watts). */
const MAX_SHARED_NUMBER_LISTS = 1024;

/**
 * The one frozen copy of a list of numbers that many devices report alike (a model's power
 * steps, a firmware's profiles' watts). A reading carries it at every poll: a fresh array
 * per poll and miner lived one poll period, long enough to be promoted to the old
 * generation. Once the table is full, a new list is kept frozen as it came.
 */
export function sharedNumbers<T extends readonly number[]>(list: T): T {
  const key = list.join(",");
  const known = numberLists.get(key);
  if (known !== undefined) return known as T;
  const frozen = Object.isFrozen(list) ? list : (Object.freeze([...list]) as unknown as T);
  if (numberLists.size < MAX_SHARED_NUMBER_LISTS) numberLists.set(key, frozen);
  return frozen;
}

const capabilityLists = new Map<string, readonly MinerCapability[]>();
const capabilitySets = new Map<string, ReadonlySet<MinerCapability>>();

/**
 * One frozen list and one set per distinct combination of capabilities: every miner of a
 * dialect has the same few, and each its own Set was 180 bytes a miner. Never mutate them.
 */
export function sharedCapabilities(list: readonly MinerCapability[]): {
  list: readonly MinerCapability[];
  set: ReadonlySet<MinerCapability>;
} {
  const key = list.join(",");
  let shared = capabilityLists.get(key);
  let set = capabilitySets.get(key);
  if (!shared || !set) {
    shared = Object.freeze([...list]);
    set = new Set(shared);
    // the combinations are a handful (each dialect's writes, less what a miner withdrew)
    capabilityLists.set(key, shared);
    capabilitySets.set(key, set);
  }
  return { list: shared, set };
}
