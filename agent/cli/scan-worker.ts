// One shard of a threaded `scan` (scan-threads.ts): scans the hosts it is
// handed and posts progress (at most every 100 ms) and then the miners found.
import { parentPort, workerData } from "node:worker_threads";
import { scanHosts } from "./scan-hosts.ts";
import type { ShardJob, ShardMessage } from "./scan-threads.ts";

const port = parentPort;
if (port) {
  const job = workerData as ShardJob;
  const post = (m: ShardMessage) => port.postMessage(m);
  let last = 0;
  try {
    const miners = await scanHosts(job.hosts, {
      port: job.port,
      concurrency: job.concurrency,
      timeoutMs: job.timeoutMs,
      onProgress: (done, total, found) => {
        const now = Date.now();
        if (now - last < 100 && done < total) return;
        last = now;
        post({ type: "progress", done, found });
      },
    });
    post({ type: "done", miners });
  } catch (err) {
    post({ type: "failed", message: err instanceof Error ? err.message : String(err) });
  }
}
