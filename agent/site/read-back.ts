// A write's confirming read-back as the site's reading of that miner. The
// read-back is a real exchange with the miner after the command, so the site
// shows the effect at once rather than a sweep later: the planner does not
// pick a miner it has just slept as still hashing (at 20,000 miners polled
// every few minutes, it kept re-sleeping the same ones), and the estimate of
// the site's draw drops when the sleep is confirmed.
import type { MinerReading } from "../../drivers/types.ts";

/**
 * `prev` with what a write's read-back shows: its state, hashrate, power and
 * (where it reports them) limit and uptime. Some dialects confirm by a partial
 * read (LuxOS, ePIC, Auradine, Proto: no temperatures, fans, pools, range or
 * model), so everything else is carried over, with the time it was read kept
 * in `detailAt`.
 */
export function mergeReadBack(prev: MinerReading | null, after: MinerReading): MinerReading {
  if (prev === null) return after;
  return {
    ...prev,
    at: after.at,
    state: after.state,
    reason: after.reason,
    hashrateThs: after.hashrateThs,
    powerW: after.powerW,
    powerEstimated: after.powerEstimated,
    powerLimitW: after.powerLimitW ?? prev.powerLimitW,
    uptimeS: after.uptimeS ?? prev.uptimeS,
    detailAt: prev.detailAt === undefined ? prev.at : prev.detailAt,
  };
}
