// Child of bench/trigger.ts: N simulated miners (LuxOS, or Braiins OS with
// --dialect) and a site meter, in a process of their own so the simulator does
// not share the agent's event loop. Prints "ready" once serving, then one line
// "S <id> <epoch ms>" each time a miner goes to sleep (the moment the sleep
// command is delivered and applied). A line "reset" on stdin wakes every miner for the next round.
// A meter port of 0: miners only (the further blocks of a fleet split across
// processes; the first block's process serves the site meter).
import { createInterface } from "node:readline";
import { startChildFleetFromArgs } from "./child-fleet.ts";

const sim = await startChildFleetFromArgs(7);
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
