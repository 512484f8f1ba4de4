// Heap sizing for a process that runs for years. After each full GC, V8 lets
// the old generation grow to up to 4× the live heap before the next one (its
// growing factor when the heap limit is large, as on any gateway with a few
// GiB). A fleet sweep makes tens of MB/s of short-lived garbage at 5,000
// miners, so the heap, and RSS with it, swung between ~120 and 220 MB and kept
// creeping up for the better part of an hour. At 1.5× the live heap RSS stayed
// flat (60-minute soak: 192–208 MiB at 5,000 miners + 100 GPU nodes); at
// 20,000 miners that still left 60–70 MiB of the heap's pages garbage; at
// 1.15× RSS fell by about 35 MiB, for a full GC every sweep or two, which V8
// marks concurrently (the tick's p99 stayed under 100 ms; README *Figures*).
//
// Compacting the old generation at every full GC (tried in the fourteenth
// session) is not set: it made the 30-second RSS samples 20 MiB lower, but each
// full GC then copies every live object to fresh pages before it frees the old
// ones, so for some tens of ms the process holds the live heap twice. Sampled
// every 50 ms at 5,000 miners, RSS peaked at 199 MiB with it, once per sweep,
// and at 166 MiB without (README *Figures*).
//
// Page promotion is off (sixteenth session). A scavenge moves a young page whose
// objects are mostly alive into the old generation whole, rather than copying them.
// At 5,000 miners such a page is mostly reads in flight (256 of them: sockets, buffers,
// parsed replies), which die milliseconds later: the old generation filled with pages
// a few objects kept, which a full GC sweeps but does not compact. Copied one by one
// instead, the survivors that still live are packed together: at the default 5 s
// poll the RSS peak of a 4-minute soak was 9–10 MiB lower (two runs each way), with
// no cost in CPU the soak could measure (README *Figures*).
import { setFlagsFromString } from "node:v8";

export const HEAP_GROWING_PERCENT = 20;

/**
 * The V8 flags `wattkeeper run` sets at start-up: V8 reads them at each collection that uses
 * them (the growing factor at a full GC, page promotion at a scavenge), so setting them before
 * the first sweep takes effect as if they were on the command line.
 */
export const AGENT_GC_FLAGS: readonly string[] = [
  `--heap-growing-percent=${HEAP_GROWING_PERCENT}`,
  "--no-page-promotion",
];

/** `--heap-growing-percent=20` → "heap_growing_percent" (V8 takes `-` and `_` alike). */
export function flagName(arg: string): string {
  return arg
    .replace(/^--(no-?)?/, "")
    .split("=")[0]!
    .replaceAll("-", "_");
}

/**
 * Those of AGENT_GC_FLAGS the operator did not give on the node command line
 * (`node --heap-growing-percent=N …`, in either spelling): theirs wins.
 */
export function gcFlagsToSet(execArgv: readonly string[]): string[] {
  const given = new Set(execArgv.filter((a) => a.startsWith("--")).map(flagName));
  return AGENT_GC_FLAGS.filter((f) => !given.has(flagName(f)));
}

/** Sets the GC flags this process's command line leaves to the agent; returns them. */
export function tuneHeap(execArgv: readonly string[] = process.execArgv): string[] {
  const set = gcFlagsToSet(execArgv);
  for (const f of set) setFlagsFromString(f);
  return set;
}

/** The growing percent while a burst's commands go out. */
export const BURST_GROWING_PERCENT = 100;

/** A shed of at least this many miner commands is a burst (HeapBurst). */
export const BURST_MIN_COMMANDS = 1000;

/**
 * While a fleet-wide shed's commands go out, a growing percent of 100 instead of the fixed 20.
 * Each action waiting for its read-back outlives the young generation, so the old one grows
 * by tens of MiB in the seconds a 20,000-miner shed takes; at 20 % it was marked and compacted
 * every half second, seven times in one shed, a third of the time to the last sleep (the last
 * sleep after 3.6–3.8 s at 20 %, 2.65–2.75 s at 100; V8's own heuristic, percent 0, gave
 * 2.4–2.5 s but let the heap grow 170 MiB instead of about 100; README *Figures*). V8 reads
 * the flag when it sets the next limit, after a full GC: the burst's limit stands until the
 * next one. Only a growing percent the agent set itself (tuneHeap) is relaxed, never the
 * operator's.
 */
export class HeapBurst {
  private bursts = 0;

  /** `ours`: tuneHeap set the growing percent (the command line did not). */
  constructor(
    private readonly ours: boolean,
    private readonly setFlag: (flag: string) => void = setFlagsFromString,
    private readonly minCommands: number = BURST_MIN_COMMANDS,
  ) {}

  /** From tuneHeap's answer: whether it set the growing percent. */
  static after(set: readonly string[], setFlag: (flag: string) => void = setFlagsFromString): HeapBurst {
    return new HeapBurst(
      set.some((f) => flagName(f) === "heap_growing_percent"),
      setFlag,
    );
  }

  /** `commands` start going out; call what it returns once they all are (again: no effect). */
  begin(commands: number): () => void {
    if (!this.ours || commands < this.minCommands) return () => {};
    if (this.bursts++ === 0) this.setFlag(`--heap-growing-percent=${BURST_GROWING_PERCENT}`);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      if (--this.bursts === 0) this.setFlag(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
    };
  }
}

/**
 * The node flags the agent is installed with (systemd/wattkeeper.service, the Dockerfile; the
 * soak runs it so). Unlike the growing factor they are fixed when V8 starts, so they must be
 * on the command line.
 * - A young generation of two 4 MiB semi-spaces instead of V8's 16. At 8 MiB (the fifth
 *   session's choice) it saved 30 MiB of RSS at 20,000 miners; 4 MiB became worth it once the
 *   poller kept fewer reads in flight (sweep-width.ts): fewer of a read's objects are alive at a
 *   scavenge, so the smaller young generation does not push them into the old one. At 5,000
 *   miners and 100 GPU nodes a 30-minute soak peaked at 150.4 MiB against 159.7 at 8 MiB, at the
 *   same CPU share (11.7 and 11.6 %), for twice the scavenges (0.3 % of a core more in GC
 *   pauses); at 20,000 miners no tick took 100 ms (p99 at most 38 ms) and the peak was 244 MiB
 *   (README *Figures*). 2 MiB held a little less again (a 4-minute peak 1 MiB lower) for twice
 *   the GC time of 4.
 * - No allocation-site pretenuring. V8 watches each place that allocates objects, and when most
 *   of its objects live through a scavenge it allocates them straight into the old generation
 *   from then on. The first sweeps (every miner detected, 256 reads in flight, each living
 *   through a scavenge or two) teach it that of the read path, and it never unlearns it: every
 *   later read's short-lived objects then died in the old generation, at the price of a full
 *   GC every 2–3 s. At 5,000 miners polled every 10 s the agent used 18.7–21.0 % of a core
 *   with it, 11.5 % without, at the same RSS (README *Figures*).
 * - One thread for all of V8's GC work (twenty-third session). By default V8 marks the old
 *   generation concurrently and scavenges the young one in parallel, on four helper threads.
 *   On a two-core gateway those helpers took 2.6 % of a core at 5,000 miners polled every 10 s
 *   (a full GC about every 8 s, a scavenge six times a second), on top of an 11 % main
 *   thread; with all of it on the main thread, marking in small steps between tasks, the
 *   agent took 10.9–11.5 % against 12.0–13.2 % (README *Figures*). At 20,000 miners the
 *   30-second share fell from 60 % to 53 % of a core, tick p99 at most 48 ms (no tick over
 *   100 ms), RSS peak 229 MiB against 233.
 * Nothing else (a test holds the unit and the image to exactly these, so the soak measures what
 * is installed). Not `--enable-source-maps`: node then reads and parses the map of every module
 * as it loads it and keeps it (3.6 MiB more live heap for a small site, 4.8 with the simulated
 * one), to turn a stack trace's dist/ positions into TypeScript ones.
 */
export const AGENT_NODE_FLAGS: readonly string[] = [
  "--max-semi-space-size=4",
  "--no-allocation-site-pretenuring",
  "--single-threaded-gc",
];

/**
 * The environment the agent is installed with, for glibc's allocator:
 * - At most two malloc arenas. Node's V8 and libuv threads otherwise get an arena each, up to
 *   eight per core, and each keeps what it freed: at 20,000 miners those arenas held 31 MiB at
 *   warm-up and 40 MiB after 30 minutes; with two, 17–22 MiB over 45 minutes (5,000 miners:
 *   7 MiB less RSS).
 * - A fixed mmap threshold of 64 KiB. glibc raises its threshold each time a large block is
 *   freed, up to 32 MiB, so the buffers of a broker reconnect or a burst of SSH output end up in
 *   the heap, where a free does not give pages back. Fixed, they are mapped and unmapped on their
 *   own: at 5,000 miners and 100 GPU nodes the RSS peak at a broker drop was 149 MiB with it,
 *   162 without; two earlier pairs held 5–10 MiB less RSS with it.
 * Read when the process starts, so they are set by the unit and the image, not by the agent.
 */
export const AGENT_MALLOC_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: "2",
  MALLOC_MMAP_THRESHOLD_: "65536",
};
