// Values that repeat across a fleet, stored once. Every miner's reading carries
// the same few pool URLs, firmware names and models, and each parse makes its
// own copy of them: at 20,000 miners that was about 5 MiB of equal strings.
// The tables are bounded, so text a device makes up (an error message with a
// counter in it) cannot grow them without end: once full, new text is kept as
// it came.
import type { MinerCapability, MinerReading } from "./types.ts";

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
