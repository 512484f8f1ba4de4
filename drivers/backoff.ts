// The one retry delay every reconnect and retry uses (miner writes, Modbus
// rebuilds, SSH connects, the MQTT link, the poller's dead devices):
// exponential, capped, with "equal jitter" — uniform in [d/2, d] — so a rack
// that died together does not retry together, yet never retries at once.
// A helper shared by drivers and agent, not a driver.

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

/** Delay before retry `attempt` (0 for the first): d = min(maxMs, baseMs·2^attempt), then uniform in [d/2, d]. */
export function backoffDelayMs(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  if (attempt < 0 || policy.maxMs <= 0) return 0;
  const d = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(d / 2 + (random() * d) / 2);
}
