// How many reads a poller keeps in flight in its next sweep, from how long the reads of its last
// sweep queued for a place (from the sweep's start to its last read's start: a read that then
// hangs to its deadline says nothing about the width) and how busy the event loop was meanwhile.
// Every read in flight holds a socket, its buffers and its parsed reply, and lives through the
// young generation's collections that fall while it waits: at 5,000 miners, 256 reads in flight
// held about 4 MiB more of glibc's heap than 128 did, and cost more CPU in copying survivors
// (README *Figures*). A fleet that answers fast needs few of them to be read well inside its
// period, one that answers slowly needs many: the width narrows while the queue empties in under
// 40 % of the period and widens as soon as it takes over 60 %, between a floor and the pool's size.
// A long queue is not always a want of places: when the loop was busy nearly all the while, the
// reads waited for the process to start them, and more of them in flight only cost more (at
// 20,000 loopback miners, 256 in flight cost 2.1-2.3x the bare loop's CPU, 64 cost 1.4x and
// swept as fast). Then the width narrows, and it widens only as far as the loop has room for.
// Pure, so the rule is tested without a clock or a network.

/** A queue emptied in under this share of the period: the sweep could have used fewer reads in flight. */
export const NARROW_BELOW = 0.4;
/** Over this share of the period, the sweep needs more reads in flight at once. */
export const WIDEN_ABOVE = 0.6;
/** The event loop this busy over the queue: the process, not the places, held the reads back. */
export const LOOP_SATURATED = 0.9;
/**
 * How busy a widening may make the loop, supposing its work grows with the reads in flight: a
 * width narrowed from a saturated loop (a quarter fewer: busy from about 0.68) widens back to
 * under LOOP_SATURATED, not over it, so the width settles rather than swinging.
 */
export const LOOP_TARGET = 0.8;
/** A widening by less than this is not worth its step: the width holds. */
const WIDEN_MIN = 1.1;

export function nextSweepWidth(
  width: number,
  queueMs: number,
  intervalMs: number,
  loopBusy: number,
  bounds: { min: number; max: number },
): number {
  const busy = queueMs / intervalMs;
  // a quarter fewer at a time: a queue that waits on the miners then takes at most 4/3 as long,
  // under 54 % of the period, short of the widening threshold, so the width settles
  const narrower = Math.max(bounds.min, Math.floor((width * 3) / 4));
  if (busy < NARROW_BELOW) return narrower;
  if (loopBusy >= LOOP_SATURATED) return narrower;
  if (busy <= WIDEN_ABOVE) return width;
  // a loop with little to do: double, as for any fleet that answers slowly
  const factor = Math.min(2, LOOP_TARGET / Math.max(loopBusy, 0.01));
  if (factor < WIDEN_MIN) return width;
  return Math.min(bounds.max, Math.floor(width * factor));
}
