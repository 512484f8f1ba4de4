// Loads a meter profile YAML (config/meters/NAME.yaml) for the stand-alone sim.
// The sim does not use the config loader (it needs no whole site config), so it
// reads the same file and validates it with the same schema the drivers own.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "yaml";
import { METERS_DIR } from "../config/paths.ts";
import { type MeterProfile, MeterProfileSchema } from "../drivers/modbus/profile.ts";

export async function loadMeterProfile(name: string): Promise<MeterProfile> {
  if (!/^[a-z0-9_-]+$/i.test(name)) throw new Error(`bad meter profile name "${name}"`);
  const file = join(METERS_DIR, `${name}.yaml`);
  return MeterProfileSchema.parse(parse(await readFile(file, "utf8")));
}
