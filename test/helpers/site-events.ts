// Waiting for the site's own clock rather than the wall clock: "nothing changes
// over the next N ticks" holds on a loaded machine too, where a fixed sleep may
// cover fewer ticks than the test means (or more than it needs on an idle one).
// Structural types: any site with the subscriptions will do.

interface Ticking {
  onTick(fn: () => void): () => void;
}
interface Sweeping {
  onSweep(fn: (driver: string) => void): () => void;
}

function count(
  subscribe: (hit: () => void) => () => void,
  n: number,
  what: string,
  timeoutMs: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${n} ${what} (saw ${seen})`));
    }, timeoutMs);
    const off = subscribe(() => {
      if (++seen < n) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

/** Resolves once the site's control loop has ticked `n` more times. */
export function ticksPass(site: Ticking, n: number, timeoutMs = 30_000): Promise<void> {
  return count((hit) => site.onTick(hit), n, "ticks", timeoutMs);
}

/** Resolves once `driver`'s poller (every driver's, without one) has swept `n` more times. */
export function sweepsPass(site: Sweeping, n: number, driver?: string, timeoutMs = 30_000): Promise<void> {
  return count(
    (hit) =>
      site.onSweep((d) => {
        if (driver === undefined || d === driver) hit();
      }),
    n,
    `${driver ?? "poll"} sweeps`,
    timeoutMs,
  );
}
