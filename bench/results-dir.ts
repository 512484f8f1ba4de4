// Where a bench writes its results: bench/results/ in the checkout, also when
// it runs compiled from dist/bench/ (a rebuild clears dist/, and the figures
// of an hour-long soak with it).
import { fileURLToPath } from "node:url";

export function resultsDir(moduleUrl: string): string {
  const here = fileURLToPath(new URL(".", moduleUrl));
  return here.endsWith("/dist/bench/")
    ? fileURLToPath(new URL("../../bench/results/", moduleUrl))
    : fileURLToPath(new URL("./results/", moduleUrl));
}
