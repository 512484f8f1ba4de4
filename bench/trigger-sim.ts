// Child of bench/trigger.ts: N simulated LuxOS miners and a site meter, in a
// process of their own so the simulator does not share the agent's event
// loop. Prints "ready" once serving, then one line "S <id> <epoch ms>" each
// time a miner goes to sleep (the moment the sleep command is delivered and
// applied). A line "reset" on stdin wakes every miner for the next round.
// A meter port of 0: miners only (the further blocks of a fleet split across
// processes; the first block's process serves the site meter).
import { createInterface } from "node:readline";
import { allocateAddresses } from "../sim/addresses.ts";
import { startSimSite } from "../sim/site.ts";
import { siteMeters } from "../test/helpers/sim-meters.ts";

const [count, base, meterPort] = [Number(process.argv[2]), process.argv[3]!, Number(process.argv[4])];
const hosts = allocateAddresses(base, count);
const sim = await startSimSite({
  miners: hosts.map((host, i) => ({ id: `m-${i}`, host, port: 4028, dialect: "luxos" })),
  meters: await siteMeters(meterPort),
  seed: 7,
  noiseW: 0,
  auxW: 10_000,
});
sim.model.onStateChange((id, state) => {
  if (state === "sleeping") process.stdout.write(`S ${id} ${Date.now()}\n`);
});
createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.trim() !== "reset") return;
  for (const id of sim.model.minerIds()) sim.model.wake(id);
  process.stdout.write("reset\n");
});
process.on("SIGTERM", () => {
  void sim.stop().then(() => process.exit(0));
});
process.stdout.write("ready\n");
