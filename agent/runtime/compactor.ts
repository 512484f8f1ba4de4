// A compacting full GC now and then. By default V8 compacts the old generation
// only where a page is mostly free (70 %): the pages a fleet sweep leaves a
// third or half full stay committed. At 5,000 miners and 100 GPU nodes the heap
// held about 75 MiB for 47 MiB live, RSS crept up for the first ten minutes and
// peaked at 148–152 MiB in 30-minute soaks. In V8's memory-saving mode
// (`--optimize-for-size`) a full GC evacuates every page over a fifth free (a
// bounded amount at a time). Set for good (at run time) that mode cost a
// 10-minute soak 4 points of a core (14.7 % against 10.6 %): it changes more
// than compaction, and compacts at every full GC, about every 7 s. On node's
// command line it also forces 1 MiB semi-spaces. So the agent sets it before one
// full GC every COMPACT_EVERY_MS and clears it as soon as that GC has run
// (README *Figures*). V8 reads the flag at each collection, so setting it at
// run time takes effect at the next one.
import { constants, PerformanceObserver } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { flagName } from "./heap.ts";

/** One compacting full GC this often. */
export const COMPACT_EVERY_MS = 30_000;

const MEMORY_MODE = "optimize_for_size";

/** What the compactor needs from the runtime (tests give their own). */
export interface CompactorDeps {
  /** Sets a V8 flag (`v8.setFlagsFromString`). */
  setFlag(flag: string): void;
  /** Calls `onMajor` after each full GC until the returned function is called. */
  watchMajorGc(onMajor: () => void): () => void;
  /** Calls `fn` every `ms` (a timer that does not hold the process open) until the returned function is called. */
  every(ms: number, fn: () => void): () => void;
}

const runtimeDeps: CompactorDeps = {
  setFlag: (flag) => setFlagsFromString(flag),
  watchMajorGc(onMajor) {
    const observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        // a GC entry's detail (node ≥ 16): { kind, flags }
        const kind = (e as { detail?: { kind?: number } | null }).detail?.kind ?? 0;
        if (kind & constants.NODE_PERFORMANCE_GC_MAJOR) onMajor();
      }
    });
    observer.observe({ entryTypes: ["gc"] });
    return () => observer.disconnect();
  },
  every(ms, fn) {
    const timer = setInterval(fn, ms);
    timer.unref();
    return () => clearInterval(timer);
  },
};

export interface Compactor {
  /** Full GCs run in the memory-saving mode so far. */
  readonly compactions: number;
  /** Stops, and leaves V8 in its default mode. */
  stop(): void;
}

/** Whether the node command line already chooses the memory-saving mode, either way: then it is left alone. */
export function memoryModeGiven(execArgv: readonly string[]): boolean {
  return execArgv.some((a) => a.startsWith("--") && flagName(a) === MEMORY_MODE);
}

/**
 * Starts the compactor: every `everyMs` the memory-saving mode goes on, and it
 * goes off after the next full GC. Null when the node command line sets the mode
 * itself (the operator's choice stands).
 */
export function startCompactor(
  opts: { everyMs?: number; execArgv?: readonly string[]; deps?: CompactorDeps } = {},
): Compactor | null {
  if (memoryModeGiven(opts.execArgv ?? process.execArgv)) return null;
  const deps = opts.deps ?? runtimeDeps;
  let compactions = 0;
  // the GC watch only while the mode is on: node records no GC entries otherwise
  let unwatch: (() => void) | null = null;
  const off = () => {
    unwatch?.();
    unwatch = null;
    deps.setFlag(`--no-${MEMORY_MODE}`);
  };
  const stopTimer = deps.every(opts.everyMs ?? COMPACT_EVERY_MS, () => {
    if (unwatch) return; // no full GC since the last turn: it stays on until one runs
    deps.setFlag(`--${MEMORY_MODE}`);
    unwatch = deps.watchMajorGc(() => {
      compactions++;
      off();
    });
  });
  return {
    get compactions() {
      return compactions;
    },
    stop() {
      stopTimer();
      if (unwatch) off();
    },
  };
}
