// The scan's core: each host gets one connect with a short timeout (dead hosts
// cost little: refused at once, or the timeout), live ones a dialect detection
// and one read, `concurrency` hosts at a time on this thread. Which host comes
// next is asked of a claim: a plain counter on one thread, a shared one when
// several threads scan the same list (scan-threads.ts), so a thread that starts
// late or meets slow hosts simply takes fewer.
import { createMiner } from "../../drivers/cgminer/miner.ts";
import { type KnownModel, ModelCatalog } from "../../drivers/cgminer/models.ts";
import { type MinerJson, minerJson, unusableReason } from "./miner-json.ts";

export interface ScanOptions {
  port: number;
  concurrency: number;
  timeoutMs: number;
  /** This thread's hosts done and found so far; `total` is the whole list's length. */
  onProgress?: (done: number, total: number, found: number) => void;
}

/** How this thread learns which host to scan next (an index past the list: none left). */
export interface ScanShare {
  claim: () => number;
  /** The shipped models (nameplate estimates), loaded once by whoever starts the threads. */
  models: readonly KnownModel[];
}

/**
 * The shipped model files: the nameplate estimate where the firmware reports no watts. Loaded
 * on demand: a scan thread is handed them and never loads the config loader at all.
 */
export async function shippedModels(): Promise<KnownModel[]> {
  const { loadModelFiles } = await import("../../config/load.ts");
  return loadModelFiles([]);
}

/**
 * Scans the hosts this thread claims; resolves with the miners that answered, in address
 * order. Alone (no share) it claims every host in turn.
 */
export async function scanHosts(hosts: string[], opts: ScanOptions, share?: ScanShare): Promise<MinerJson[]> {
  const found: Array<MinerJson | undefined> = new Array(hosts.length);
  const models = new ModelCatalog(share?.models ?? (await shippedModels()));
  let next = 0;
  const claim = share?.claim ?? (() => next++);
  let done = 0;
  let alive = 0;
  const worker = async () => {
    for (let i = claim(); i < hosts.length; i = claim()) {
      const host = hosts[i]!;
      const miner = createMiner({ host, port: opts.port, models }, "auto", {
        exchange: { connectTimeoutMs: opts.timeoutMs, readTimeoutMs: Math.max(opts.timeoutMs, 3000) },
      });
      const reading = await miner.read();
      await miner.confirmed();
      await miner.close();
      // a host that answers but not as a miner is listed too, marked unusable, never dropped in silence
      if (reading.state !== "unreachable" || unusableReason(reading) !== null) {
        found[i] = minerJson({ host, port: opts.port, miner, reading });
        alive++;
      }
      done++;
      opts.onProgress?.(done, hosts.length, alive);
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency, hosts.length) }, worker));
  return found.filter((m): m is MinerJson => m !== undefined);
}
