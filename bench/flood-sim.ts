// Child of bench/flood.ts and test/integration/http-flood.test.ts: N simulated
// LuxOS miners and a site meter, in a process of their own so that neither the
// simulator nor its sockets share the agent's event loop or file descriptors.
// Prints "ready", then "P <epoch ms> <site watts>" every 100 ms: the ground
// truth a shed is timed against. Runs until SIGTERM.
import { startChildFleetFromArgs } from "./child-fleet.ts";

const sim = await startChildFleetFromArgs(5);
const timer = setInterval(() => {
  process.stdout.write(`P ${Date.now()} ${Math.round(sim.model.meterW("site"))}\n`);
}, 100);
process.on("SIGTERM", () => {
  clearInterval(timer);
  void sim.stop().then(() => process.exit(0));
});
process.stdout.write("ready\n");
