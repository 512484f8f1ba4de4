// One worker of a threaded `scan` (scan-threads.ts): scans the hosts it claims
// from the shared counter and posts progress (at most every 100 ms, and once at
// the end) and then the miners it found.
import { parentPort, workerData } from "node:worker_threads";
import { scanHosts } from "./scan-hosts.ts";
import type { ShardJob, ShardMessage } from "./scan-threads.ts";

const port = parentPort;
if (port) {
  const job = workerData as ShardJob;
  const post = (m: ShardMessage) => port.postMessage(m);
  let last = 0;
  let final: ShardMessage = { type: "progress", done: 0, found: 0 };
  try {
    const counter = new Int32Array(job.next);
    const miners = await scanHosts(
      job.hosts,
      {
        port: job.port,
        concurrency: job.concurrency,
        timeoutMs: job.timeoutMs,
        onProgress: (done, _total, found) => {
          final = { type: "progress", done, found };
          const now = Date.now();
          if (now - last < 100) return;
          last = now;
          post({ type: "progress", done, found });
        },
      },
      { claim: () => Atomics.add(counter, 0, 1), models: job.models },
    );
    // the last count: the throttle above may have held it back
    post(final);
    post({ type: "done", miners });
  } catch (err) {
    post({ type: "failed", message: err instanceof Error ? err.message : String(err) });
  }
}
