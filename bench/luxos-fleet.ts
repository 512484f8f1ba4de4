// The fleet a bench's simulator child serves (bench/flood-sim.ts,
// bench/trigger-sim.ts): N LuxOS miners on consecutive loopback addresses and
// the site meter, from the child's arguments `<count> <base address> <meter
// port>` (a meter port of 0: miners only).
import { allocateAddresses } from "../sim/addresses.ts";
import { type SimSite, startSimSite } from "../sim/site.ts";
import { siteMeters } from "../test/helpers/sim-meters.ts";

/** Steady miners (no noise) and 10 kW of other load, seeded so runs compare. */
export async function startLuxosFleetFromArgs(seed: number, argv = process.argv.slice(2)): Promise<SimSite> {
  const [count, base, meterPort] = [Number(argv[0]), argv[1]!, Number(argv[2])];
  return startSimSite({
    miners: allocateAddresses(base, count).map((host, i) => ({
      id: `m-${i}`,
      host,
      port: 4028,
      dialect: "luxos",
    })),
    meters: await siteMeters(meterPort),
    seed,
    noiseW: 0,
    auxW: 10_000,
  });
}
