// Recorded CGMiner-API replies (test/fixtures/cgminer-api/<firmware>/NAME.{req,bin}).
import { readdirSync, readFileSync } from "node:fs";

const ROOT = new URL("../fixtures/cgminer-api/", import.meta.url);

export interface RecordedExchange {
  firmware: string;
  name: string;
  request: Buffer;
  reply: Buffer;
}

export function recordedExchanges(firmware = "bfgminer-5.5.0"): RecordedExchange[] {
  const dir = new URL(`${firmware}/`, ROOT);
  return readdirSync(dir)
    .filter((f) => f.endsWith(".bin"))
    .sort()
    .map((f) => {
      const name = f.slice(0, -4);
      return {
        firmware,
        name,
        request: readFileSync(new URL(`${name}.req`, dir)),
        reply: readFileSync(new URL(f, dir)),
      };
    });
}

export function recorded(name: string, firmware = "bfgminer-5.5.0"): RecordedExchange {
  const found = recordedExchanges(firmware).find((e) => e.name === name);
  if (!found) throw new Error(`no fixture ${firmware}/${name}`);
  return found;
}
