// Heap sizing for a process that runs for years. After each full GC, V8 lets
// the old generation grow to up to 4× the live heap before the next one (its
// growing factor when the heap limit is large, as on any gateway with a few
// GiB). A fleet sweep makes tens of MB/s of short-lived garbage at 5,000
// miners, so the heap, and RSS with it, swung between ~120 and 220 MB and kept
// creeping up for the better part of an hour. At 1.5× the live heap, RSS stays
// flat (60-minute soak: 192–208 MiB at 5,000 miners + 100 GPU nodes) for a few more
// full GCs, which V8 marks concurrently.
import { setFlagsFromString } from "node:v8";

export const HEAP_GROWING_PERCENT = 50;

/**
 * Applies the growing factor unless the operator set one on the node command
 * line (`node --heap-growing-percent=N …`), which then wins. V8 reads it at
 * every full GC, so setting it at start-up takes effect from the first one.
 */
export function tuneHeap(execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((a) => /^--heap[-_]growing[-_]percent\b/.test(a))) return false;
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  return true;
}
