// The site meter that tests and benches put in front of a simulated fleet: an
// SDM630 on loopback Modbus TCP, unit 1, id "pcc" (the id their configs name).
import { loadMeterProfile } from "../../sim/profiles.ts";
import type { SimMeterSpec } from "../../sim/site.ts";

/** The site meter on `port`; a port of 0, none (a further block of a fleet split over processes). */
export async function siteMeters(port: number): Promise<SimMeterSpec[]> {
  if (port === 0) return [];
  return [
    {
      id: "pcc",
      role: "site",
      host: "127.0.0.1",
      port,
      unitId: 1,
      profile: await loadMeterProfile("sdm630"),
    },
  ];
}
