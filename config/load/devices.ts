// The device sections checked together: meters, miners and GPU nodes share one
// id space, and each kind has its own addresses to keep unique.
import type { MeterConfig, MinerConfig } from "../schema.ts";
import { IdClaims } from "./duplicates.ts";
import { checkMeters } from "./meters.ts";
import { expandMiners } from "./miners.ts";
import type { Problem } from "./problems.ts";
import type { Entries } from "./sections.ts";

export interface Devices {
  meters: MeterConfig[];
  /** Path of the meter with role site, e.g. "meters[0]"; null if none. */
  siteMeter: string | null;
  miners: MinerConfig[];
}

export async function checkDevices(entries: Entries, problems: Problem[]): Promise<Devices> {
  const ids = new IdClaims(problems);
  const { meters, siteMeter } = await checkMeters(entries.meters, ids, problems);
  const miners = expandMiners(entries.miners, ids, problems);
  checkGpuNodes(entries.gpuNodes, ids, problems);
  ids.finish();
  return { meters, siteMeter, miners };
}

function checkGpuNodes(list: Entries["gpuNodes"], ids: IdClaims, problems: Problem[]): void {
  const endpoints = new Map<string, string>();
  for (const [i, g] of list.entries()) {
    if (!g) continue;
    const at = `gpuNodes[${i}]`;
    ids.claim(g.id, { path: `${at}.id`, owner: at, derived: false });
    const endpoint = `${g.host.toLowerCase()}:${g.port}`;
    const other = endpoints.get(endpoint);
    if (other) problems.push({ path: `${at}.host`, message: `${g.host}:${g.port} is also ${other}` });
    else endpoints.set(endpoint, at);
  }
}
