// Loads a meter profile YAML (config/meters/NAME.yaml) for the stand-alone sim.
// The sim may not import the config loader (dependency rules), so it reads the
// same file and validates it with the same schema the drivers own.
import { readFile } from "node:fs/promises";
import { parse } from "yaml";
import { type MeterProfile, MeterProfileSchema } from "../drivers/modbus/profile.ts";

const METERS_DIR = new URL("../config/meters/", import.meta.url);

export async function loadMeterProfile(name: string): Promise<MeterProfile> {
  if (!/^[a-z0-9_-]+$/i.test(name)) throw new Error(`bad meter profile name "${name}"`);
  const url = new URL(`${name}.yaml`, METERS_DIR);
  return MeterProfileSchema.parse(parse(await readFile(url, "utf8")));
}
