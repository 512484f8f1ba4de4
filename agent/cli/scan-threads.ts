// `scan` across threads. A scan is CPU-bound on the scanning side (connects,
// HTTP parsing, normalising: about a millisecond per live host), and one
// thread leaves the gateway's other cores idle. Every thread scans the same
// list and takes the next host from one shared counter (an Atomics add on a
// SharedArrayBuffer): this thread starts at once while the workers load, and no
// thread idles while another still has a backlog of slow hosts. Each has its
// share of the concurrency; results come back in address order, progress
// summed over the threads.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { KnownModel } from "../../drivers/cgminer/models.ts";
import type { MinerJson } from "./miner-json.ts";
import { type ScanOptions, scanHosts, shippedModels } from "./scan-hosts.ts";

/**
 * Below this many hosts per thread a worker's start-up (loading the drivers, about half a
 * second of CPU) costs more than it saves.
 */
const MIN_HOSTS_PER_THREAD = 1024;
const MAX_THREADS = 4;

/** What the worker is handed (workerData) and what it posts back. */
export interface ShardJob {
  /** The whole list: which host is whose is settled by the shared counter. */
  hosts: string[];
  /** One Int32: the index of the next host to claim. */
  next: SharedArrayBuffer;
  models: KnownModel[];
  port: number;
  concurrency: number;
  timeoutMs: number;
}
export type ShardMessage =
  | { type: "progress"; done: number; found: number }
  | { type: "done"; miners: MinerJson[] }
  | { type: "failed"; message: string };

/** The default thread count: the cores there are, at most four. */
export function defaultScanThreads(): number {
  return Math.max(1, Math.min(MAX_THREADS, availableParallelism()));
}

const EXT = import.meta.url.endsWith(".ts") ? ".ts" : ".js";

function startWorker(job: ShardJob): Worker {
  const entry = new URL(`./scan-worker${EXT}`, import.meta.url);
  if (EXT === ".js") return new Worker(entry, { workerData: job });
  // from the sources (tests, development) the worker has no TypeScript loader of its own:
  // a one-line module registers tsx's, then loads the entry
  const tsx = import.meta.resolve("tsx/esm/api");
  const boot = `import { register } from ${JSON.stringify(tsx)}; register(); await import(${JSON.stringify(entry.href)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(boot)}`), { workerData: job });
}

function runShard(job: ShardJob, onProgress: (done: number, found: number) => void): Promise<MinerJson[]> {
  return new Promise((resolve, reject) => {
    const worker = startWorker(job);
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      void worker.terminate();
      fn();
    };
    worker.on("message", (m: ShardMessage) => {
      if (m.type === "progress") onProgress(m.done, m.found);
      else if (m.type === "done") settle(() => resolve(m.miners));
      else settle(() => reject(new Error(`scan thread failed: ${m.message}`)));
    });
    worker.on("error", (err) => settle(() => reject(err)));
    worker.on("exit", (code) =>
      settle(() => reject(new Error(`scan thread exited (${code}) before it finished`))),
    );
  });
}

/** Scans hosts over `threads` threads (1: this thread only); resolves in address order. */
export interface ThreadOptions {
  /** Threads to spread over (1: this thread only). */
  threads?: number;
  /** A thread is started only for at least this many hosts. */
  minHostsPerThread?: number;
}

export async function scanInThreads(
  hosts: string[],
  opts: ScanOptions,
  { threads = defaultScanThreads(), minHostsPerThread = MIN_HOSTS_PER_THREAD }: ThreadOptions = {},
): Promise<MinerJson[]> {
  const shards = Math.max(1, Math.min(threads, Math.floor(hosts.length / minHostsPerThread)));
  if (shards === 1) return scanHosts(hosts, opts);
  const next = new SharedArrayBuffer(4);
  const counter = new Int32Array(next);
  const claim = () => Atomics.add(counter, 0, 1);
  const models = await shippedModels();
  const concurrency = Math.max(1, Math.ceil(opts.concurrency / shards));
  const progress = Array.from({ length: shards }, () => ({ done: 0, found: 0 }));
  const report = (shard: number, done: number, found: number) => {
    progress[shard] = { done, found };
    const sum = progress.reduce((a, p) => ({ done: a.done + p.done, found: a.found + p.found }));
    opts.onProgress?.(sum.done, hosts.length, sum.found);
  };
  const results = await Promise.all(
    progress.map((_, shard) => {
      if (shard === 0) {
        const onProgress = (done: number, _total: number, found: number) => report(0, done, found);
        return scanHosts(hosts, { ...opts, concurrency, onProgress }, { claim, models });
      }
      const job: ShardJob = { hosts, next, models, port: opts.port, concurrency, timeoutMs: opts.timeoutMs };
      return runShard(job, (done, found) => report(shard, done, found));
    }),
  );
  const order = new Map(hosts.map((h, i) => [h, i]));
  return results.flat().sort((a, b) => order.get(a.host)! - order.get(b.host)!);
}
