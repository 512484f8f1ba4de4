// How many reads a poller keeps in flight in its next sweep, from how long the reads of its last
// sweep queued for a place (from the sweep's start to its last read's start: a read that then
// hangs to its deadline says nothing about the width).
// Every read in flight holds a socket, its buffers and its parsed reply, and lives through the
// young generation's collections that fall while it waits: at 5,000 miners, 256 reads in flight
// held about 4 MiB more of glibc's heap than 128 did, and cost more CPU in copying survivors
// (README *Figures*). A fleet that answers fast needs few of them to be read well inside its
// period, one that answers slowly needs many: the width narrows while the queue empties in under
// 40 % of the period and doubles as soon as it takes over 60 %, between a floor and the pool's size.
// Pure, so the rule is tested without a clock or a network.

/** A queue emptied in under this share of the period: the sweep could have used fewer reads in flight. */
export const NARROW_BELOW = 0.4;
/** Over this share of the period, the sweep needs more reads in flight at once. */
export const WIDEN_ABOVE = 0.6;

export function nextSweepWidth(
  width: number,
  queueMs: number,
  intervalMs: number,
  bounds: { min: number; max: number },
): number {
  const busy = queueMs / intervalMs;
  if (busy > WIDEN_ABOVE) return Math.min(bounds.max, width * 2);
  // a quarter fewer at a time: a queue that waits on the miners then takes at most 4/3 as long,
  // under 54 % of the period, short of the doubling threshold, so the width settles
  if (busy < NARROW_BELOW) return Math.max(bounds.min, Math.floor((width * 3) / 4));
  return width;
}
