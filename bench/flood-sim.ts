// Child of bench/flood.ts and test/integration/http-flood.test.ts: N simulated
// LuxOS miners and a site meter, in a process of their own so that neither the
// simulator nor its sockets share the agent's event loop or file descriptors.
// Prints "ready", then "P <epoch ms> <site watts>" every 100 ms: the ground
// truth a shed is timed against. Runs until SIGTERM.
import { allocateAddresses } from "../sim/addresses.ts";
import { startSimSite } from "../sim/site.ts";
import { siteMeters } from "../test/helpers/sim-meters.ts";

const [count, base, meterPort] = [Number(process.argv[2]), process.argv[3]!, Number(process.argv[4])];
const hosts = allocateAddresses(base, count);
const sim = await startSimSite({
  miners: hosts.map((host, i) => ({ id: `m-${i}`, host, port: 4028, dialect: "luxos" })),
  meters: await siteMeters(meterPort),
  seed: 5,
  noiseW: 0,
  auxW: 10_000,
});
const timer = setInterval(() => {
  process.stdout.write(`P ${Date.now()} ${Math.round(sim.model.meterW("site"))}\n`);
}, 100);
process.on("SIGTERM", () => {
  clearInterval(timer);
  void sim.stop().then(() => process.exit(0));
});
process.stdout.write("ready\n");
