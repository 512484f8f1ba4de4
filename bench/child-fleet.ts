// The fleet a bench's simulator child serves (bench/flood-sim.ts,
// bench/trigger-sim.ts): N miners of one dialect (LuxOS unless told) on
// consecutive loopback addresses and the site meter, from the child's arguments
// `<count> <base address> <meter port> [dialect]` (a meter port of 0: miners only).
import { allocateAddresses } from "../sim/addresses.ts";
import { type SimSite, startSimSite } from "../sim/site.ts";
import { siteMeters } from "../test/helpers/sim-meters.ts";

/** The dialects a bench fleet may take: those whose sleep goes over port 4028. */
export const CHILD_FLEET_DIALECTS = ["luxos", "braiins"] as const;
export type ChildFleetDialect = (typeof CHILD_FLEET_DIALECTS)[number];

export function isChildFleetDialect(s: string): s is ChildFleetDialect {
  return (CHILD_FLEET_DIALECTS as readonly string[]).includes(s);
}

/** Steady miners (no noise) and 10 kW of other load, seeded so runs compare. */
export async function startChildFleetFromArgs(seed: number, argv = process.argv.slice(2)): Promise<SimSite> {
  const [count, base, meterPort, dialect = "luxos"] = [Number(argv[0]), argv[1]!, Number(argv[2]), argv[3]];
  if (!isChildFleetDialect(dialect)) throw new Error(`unknown bench fleet dialect: ${dialect}`);
  return startSimSite({
    miners: allocateAddresses(base, count).map((host, i) => ({
      id: `m-${i}`,
      host,
      port: 4028,
      dialect,
    })),
    meters: await siteMeters(meterPort),
    seed,
    noiseW: 0,
    auxW: 10_000,
  });
}
