// The scan's core: each host gets one connect with a short timeout (dead hosts
// cost little: refused at once, or the timeout), live ones a dialect detection
// and one read, `concurrency` hosts at a time on this thread.
import { loadModelFiles } from "../../config/load.ts";
import { createMiner } from "../../drivers/cgminer/miner.ts";
import { ModelCatalog } from "../../drivers/cgminer/models.ts";
import { type MinerJson, minerJson, unusableReason } from "./miner-json.ts";

export interface ScanOptions {
  port: number;
  concurrency: number;
  timeoutMs: number;
  onProgress?: (done: number, total: number, found: number) => void;
}

/** Scans hosts; resolves with the miners that answered, in address order. */
export async function scanHosts(hosts: string[], opts: ScanOptions): Promise<MinerJson[]> {
  const found: Array<MinerJson | undefined> = new Array(hosts.length);
  // the shipped models: the nameplate estimate where the firmware reports no watts
  const models = new ModelCatalog(await loadModelFiles([]));
  let next = 0;
  let done = 0;
  let alive = 0;
  const worker = async () => {
    while (next < hosts.length) {
      const i = next++;
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
