// Meters: their ids, at most one site meter, one meter per Modbus address and
// one set of line settings per serial bus; and each meter's register profile.
import type { MeterProfile } from "../../drivers/modbus/profile.ts";
import type { MeterConfig, ModbusTarget } from "../schema.ts";
import type { IdClaims } from "./duplicates.ts";
import type { Problem } from "./problems.ts";
import { meterProfile } from "./profiles.ts";
import type { Entries } from "./sections.ts";

/** The Modbus devices and serial buses claimed so far. */
class ModbusClaims {
  private readonly targets = new Map<string, string>();
  private readonly serialPorts = new Map<string, { at: string; baudRate: number; parity: string }>();
  constructor(private readonly problems: Problem[]) {}

  claim(t: ModbusTarget, at: string): void {
    const target = t.kind === "rtu" ? `${t.path}#${t.unitId}` : `${t.host}:${t.port}#${t.unitId}`;
    const other = this.targets.get(target);
    if (other)
      this.problems.push({
        path: `${at}.modbus`,
        message: `the same Modbus device (unit ${t.unitId}) as ${other}`,
      });
    else this.targets.set(target, at);
    if (t.kind === "rtu") {
      // Devices on one serial bus share its line settings.
      const bus = this.serialPorts.get(t.path);
      if (bus && (bus.baudRate !== t.baudRate || bus.parity !== t.parity)) {
        this.problems.push({
          path: `${at}.modbus`,
          message: `${t.path} is shared with ${bus.at}, which uses ${bus.baudRate} baud, parity ${bus.parity}`,
        });
      } else if (!bus) this.serialPorts.set(t.path, { at, baudRate: t.baudRate, parity: t.parity });
    }
  }
}

/** The meters with their profiles, and the path of the site meter (null if none). */
export async function checkMeters(
  list: Entries["meters"],
  ids: IdClaims,
  problems: Problem[],
): Promise<{ meters: MeterConfig[]; siteMeter: string | null }> {
  const meters: MeterConfig[] = [];
  const profileCache = new Map<string, MeterProfile | Problem[]>();
  const modbus = new ModbusClaims(problems);
  let siteMeter: string | null = null;
  for (const [i, m] of list.entries()) {
    if (!m) continue;
    const at = `meters[${i}]`;
    ids.claim(m.id, { path: `${at}.id`, owner: at, derived: false });
    if (m.role === "site") {
      if (siteMeter)
        problems.push({
          path: `${at}.role`,
          message: `only one meter may have role site; ${siteMeter} already does`,
        });
      else siteMeter = at;
    }
    modbus.claim(m.modbus, at);
    const profile = await meterProfile({ meter: m, index: i, cache: profileCache, problems });
    if (profile) {
      const { profile: _p, registers: _r, maxGap: _g, ...rest } = m;
      meters.push({ ...rest, profile });
    }
  }
  return { meters, siteMeter };
}
