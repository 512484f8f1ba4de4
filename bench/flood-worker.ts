// Child of bench/flood.ts: one share of the half-open connections (a process
// holds at most its own open-file limit of sockets, so 20,000 take several).
// Options as one JSON argument (HalfOpenOptions); prints its stats as a JSON
// line every second; stops on SIGTERM.
import { HalfOpenFlood, type HalfOpenOptions } from "./flood-tools.ts";

const o = JSON.parse(process.argv[2]!) as HalfOpenOptions;
const flood = new HalfOpenFlood(o);
const report = setInterval(() => process.stdout.write(`${JSON.stringify(flood.stats)}\n`), 1000);
process.on("SIGTERM", () => {
  clearInterval(report);
  void flood.stop().then(() => {
    process.stdout.write(`${JSON.stringify(flood.stats)}\n`);
    process.exit(0);
  });
});
await flood.start();
