// Report by exception: which metrics changed since they were last published.
// Pure. A number moves when the difference exceeds the metric's deadband (0:
// any difference); null to a value (or back), a string or a flag changes on
// any difference. A metric held back by its deadband keeps its old published
// value, so a slow drift is reported once it adds up.
import type { SpMetric, SpValue } from "./metrics.ts";

export function isChange(published: SpValue | undefined, next: SpValue, deadband = 0): boolean {
  if (published === undefined) return true;
  if (published === null || next === null) return published !== next;
  if (typeof published === "number" && typeof next === "number") {
    return deadband > 0 ? Math.abs(next - published) > deadband : next !== published;
  }
  return published !== next;
}

/** The metrics of `next` that differ from what `published` holds (by name). */
export function changedMetrics(
  published: ReadonlyMap<string, SpValue>,
  next: readonly SpMetric[],
): SpMetric[] {
  return next.filter((m) => isChange(published.get(m.name), m.value, m.deadband ?? 0));
}

/** `published` with the given metrics' values, as the receiver now holds them. */
export function remember(published: Map<string, SpValue>, sent: readonly SpMetric[]): void {
  for (const m of sent) published.set(m.name, m.value);
}
