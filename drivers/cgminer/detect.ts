// `dialect: auto`: asks the miner who it is (`version`, then `devdetails`) and
// picks a dialect from the firmware markers pyasic's socket probe also relies on
// (LUXMINER, BOSMINER/BOSER, BTMINER/BITMICRO, AVALON). Anything else speaking
// the CGMiner API is stock cgminer/bmminer.
import { DriverError } from "../types.ts";
import { CgminerClient } from "./client.ts";
import type { DialectName, MinerEndpoint } from "./driver.ts";
import type { ExchangeOptions } from "./framing.ts";

const MARKERS: Array<[RegExp, DialectName]> = [
  [/LUXMINER|LUXOR/i, "luxos"],
  [/BOSMINER|BOSER|BRAIINS/i, "braiins"],
  [/BTMINER|BITMICRO|WHATSMINER/i, "whatsminer"],
  [/AVALON|CANAAN/i, "avalon"],
];

/** The dialect a reply's text points to; null when it carries no vendor marker. */
export function dialectFromText(text: string): DialectName | null {
  for (const [re, name] of MARKERS) if (re.test(text)) return name;
  return null;
}

export interface Detection {
  dialect: DialectName;
  /** The text the decision was made on (for logs and `scan`). */
  evidence: string;
}

/**
 * Detects a miner's dialect. Throws a DriverError when the miner does not
 * answer at all (refused, timeout): the caller retries later.
 */
export async function detectDialect(
  endpoint: MinerEndpoint,
  exchange: ExchangeOptions = {},
  signal?: AbortSignal,
): Promise<Detection> {
  const client = new CgminerClient(endpoint, exchange);
  let lastError: unknown = null;
  for (const command of ["version", "devdetails"]) {
    try {
      const { replies } = await client.command([command], undefined, signal);
      const text = JSON.stringify(replies[command] ?? "");
      const found = dialectFromText(text);
      if (found) return { dialect: found, evidence: `${command}: ${found}` };
      if (command === "version") return { dialect: "cgminer", evidence: "version: no vendor marker" };
    } catch (err) {
      lastError = err;
      // Whatsminer firmware may refuse `version` but answer `devdetails`, or the other way round
      if (err instanceof DriverError && err.code !== "WK_CGMINER_ERROR_STATUS") throw err;
    }
  }
  if (lastError instanceof DriverError) throw lastError;
  return { dialect: "cgminer", evidence: "no vendor marker" };
}
