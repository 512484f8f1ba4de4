// Miners: each entry's host or hosts expanded into one miner per address, under
// the per-agent cap, with unique host:port pairs and ids.
import { formatGrouped } from "../../drivers/number-text.ts";
import { countHosts, expandHosts, MAX_MINERS } from "../hosts.ts";
import type { MinerConfig, MinerEntry } from "../schema.ts";
import { DuplicateReporter, type IdClaims } from "./duplicates.ts";
import type { Problem } from "./problems.ts";
import type { Entries } from "./sections.ts";

const DEFAULT_MINER_PORT = 4028;

/**
 * Counts miners against MAX_MINERS. Once over, later ranges are only counted,
 * not expanded, so the final problem can say how many there are in all.
 */
class MinerCap {
  private total = 0;
  private overCap = false;
  constructor(private readonly problems: Problem[]) {}

  /** The entry's addresses, or null when they cannot be expanded or do not fit. */
  take(m: MinerEntry, at: string): string[] | null {
    const hostKey = m.host !== undefined ? "host" : "hosts";
    let hosts: string[];
    if (m.host !== undefined) hosts = [m.host];
    else {
      try {
        if (this.overCap) {
          this.total += countHosts(m.hosts as string | string[]);
          return null;
        }
        hosts = expandHosts(m.hosts as string | string[], MAX_MINERS - this.total);
      } catch (e) {
        this.problems.push({ path: `${at}.hosts`, message: (e as Error).message });
        this.overCap = true;
        return null;
      }
    }
    if (this.total + hosts.length > MAX_MINERS) {
      this.problems.push({
        path: `${at}.${hostKey}`,
        message: `over the limit of ${formatGrouped(MAX_MINERS)} miners in total`,
      });
      this.overCap = true;
      return null;
    }
    this.total += hosts.length;
    return hosts;
  }

  finish(): void {
    if (this.overCap && this.total > MAX_MINERS) {
      this.problems.push({
        path: "miners",
        message: `${formatGrouped(this.total)} miners in all, over the limit of ${formatGrouped(MAX_MINERS)} per agent`,
      });
    }
  }
}

export function expandMiners(list: Entries["miners"], ids: IdClaims, problems: Problem[]): MinerConfig[] {
  const miners: MinerConfig[] = [];
  const cap = new MinerCap(problems);
  const endpoints = new Map<string, string>();
  const dupEndpoints = new DuplicateReporter(problems, "duplicate host:port pairs");
  for (const [i, m] of list.entries()) {
    if (!m) continue;
    const at = `miners[${i}]`;
    const hosts = cap.take(m, at);
    if (!hosts) continue;
    const hostKey = m.host !== undefined ? "host" : "hosts";
    for (const host of hosts) {
      const endpoint = `${host.toLowerCase()}:${m.port}`;
      const other = endpoints.get(endpoint);
      if (other !== undefined) {
        dupEndpoints.add(`${at}.${hostKey}`, `${host}:${m.port} is also in ${other}`);
        continue;
      }
      endpoints.set(endpoint, at);
      const id = m.id ?? derivedId(m, host);
      ids.claim(id, {
        path: m.id !== undefined ? `${at}.id` : `${at}.${hostKey}`,
        owner: at,
        derived: m.id === undefined,
      });
      miners.push(minerConfig(m, { id, host, source: at }));
    }
  }
  cap.finish();
  dupEndpoints.finish();
  return miners;
}

/** idPrefix + the address with dots as dashes (+ "-<port>" when the port is not the default). */
function derivedId(m: MinerEntry, host: string): string {
  return `${m.idPrefix}${host.replace(/\./g, "-")}${m.port !== DEFAULT_MINER_PORT ? `-${m.port}` : ""}`;
}

/** The entry's fields that are not copied to each of its miners as they are. */
const NOT_INHERITED: ReadonlySet<string> = new Set(["host", "hosts", "id", "idPrefix", "credentials"]);

/**
 * One miner of an entry (one of its hosts), with its id and where in the file it came from.
 * Copied key by key, always in the same order, so every miner of a fleet shares one hidden
 * class: a spread of a rest object gives each its own (about 400 bytes each, 8 MiB at 20,000).
 */
function minerConfig(
  m: MinerEntry,
  { id, host, source }: { id: string; host: string; source: string },
): MinerConfig {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(m)) if (!NOT_INHERITED.has(key)) out[key] = m[key as keyof MinerEntry];
  out.id = id;
  out.host = host;
  out.credentials = m.credentials as MinerConfig["credentials"];
  out.source = source;
  return out as MinerConfig;
}
