// Nameplate figures of common ASIC models (vendor spec sheets), used to
// estimate a miner's draw when its firmware reports no watts (stock Antminer):
// nominal power × (hashrate / nominal hashrate). A config's `nominalW` wins.

export interface Nameplate {
  nominalW: number;
  nominalThs: number;
}

const NAMEPLATES: Record<string, Nameplate> = {
  "antminer s19": { nominalW: 3250, nominalThs: 95 },
  "antminer s19 pro": { nominalW: 3250, nominalThs: 110 },
  "antminer s19j pro": { nominalW: 3068, nominalThs: 104 },
  "antminer s19k pro": { nominalW: 2760, nominalThs: 120 },
  "antminer s19 xp": { nominalW: 3010, nominalThs: 141 },
  "antminer s21": { nominalW: 3500, nominalThs: 200 },
  "antminer s21 pro": { nominalW: 3510, nominalThs: 234 },
  "antminer t21": { nominalW: 3610, nominalThs: 190 },
  "whatsminer m30s+": { nominalW: 3400, nominalThs: 100 },
  "whatsminer m50s": { nominalW: 3276, nominalThs: 126 },
  "whatsminer m60s": { nominalW: 3422, nominalThs: 186 },
};

/** Looks a model up by the name the firmware reports (`Type`), case- and space-insensitive. */
export function nameplateOf(model: string | null): Nameplate | null {
  if (!model) return null;
  const key = model.toLowerCase().replace(/\s+/g, " ").trim();
  return NAMEPLATES[key] ?? null;
}
