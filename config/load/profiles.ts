// Meter register profiles: the named profiles in config/meters/<name>.yaml
// (read once per load) and inline register maps, both checked by the drivers'
// own profile schema and reported at the meter's path.
import { readdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type MeterProfile, MeterProfileSchema } from "../../drivers/modbus/profile.ts";
import { METERS_DIR } from "../paths.ts";
import type { MeterEntry } from "../schema.ts";
import { parseWith } from "./issues.ts";
import type { Problem } from "./problems.ts";
import { parseText } from "./read.ts";

function knownProfiles(): string[] {
  try {
    return readdirSync(METERS_DIR)
      .filter((f) => f.endsWith(".yaml"))
      .map((f) => f.slice(0, -5))
      .sort();
  } catch {
    return [];
  }
}

async function loadProfile(
  name: string,
  at: string,
  cache: Map<string, MeterProfile | Problem[]>,
): Promise<MeterProfile | Problem[]> {
  const cached = cache.get(name);
  if (cached) return cached;
  let result: MeterProfile | Problem[];
  const known = knownProfiles();
  if (!known.includes(name)) {
    result = [
      { path: at, message: `unknown meter profile "${name}"; known: ${known.join(", ") || "(none)"}` },
    ];
  } else {
    const file = join(METERS_DIR, `${name}.yaml`);
    const text = await readFile(file, "utf8");
    const parsed = parseText(file, text);
    if (parsed.problems.length > 0) {
      result = parsed.problems.map((p) => ({
        path: at,
        message: `config/meters/${name}.yaml: ${p.message}`,
      }));
    } else {
      const problems: Problem[] = [];
      const profile = parseWith(MeterProfileSchema, parsed.value, { at: [], problems });
      result =
        profile ??
        problems.map((p) => ({
          path: at,
          message: `config/meters/${name}.yaml: ${p.path ? `${p.path}: ` : ""}${p.message}`,
        }));
    }
  }
  cache.set(name, result);
  return result;
}

export interface MeterProfileInput {
  meter: MeterEntry;
  /** Its index in meters[] (where a problem is reported). */
  index: number;
  cache: Map<string, MeterProfile | Problem[]>;
  problems: Problem[];
}

export async function meterProfile({
  meter: m,
  index: i,
  cache,
  problems,
}: MeterProfileInput): Promise<MeterProfile | null> {
  if (m.profile !== undefined) {
    const r = await loadProfile(m.profile, `meters[${i}].profile`, cache);
    if (Array.isArray(r)) {
      problems.push(...r);
      return null;
    }
    return r;
  }
  // Inline: the drivers' own profile schema judges it, with the meter's paths.
  const inline = { name: `inline:${m.id}`, registers: m.registers, maxGap: m.maxGap };
  return parseWith(MeterProfileSchema, inline, { at: ["meters", i], problems });
}
