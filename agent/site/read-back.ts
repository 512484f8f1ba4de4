// A write's confirming read-back as the site's reading of that miner. The
// read-back is a real exchange with the miner after the command, so the site
// shows the effect at once rather than a sweep later: the page and the counts
// show a slept miner asleep, the estimate of the site's draw drops when the
// sleep is confirmed, and once the shed has settled in the ledger the planner
// does not take the miner for one still hashing (a large fleet is polled
// every few seconds at best, a minute or more where operators set it so).
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
