// A site and its devices as the HTTP views give them, for the Sparkplug B edge node's tests.
import type { DevicesView, SiteView } from "../../agent/http/types.ts";

export const site: SiteView = {
  siteId: "odessa-1",
  powerW: 812_345.5,
  budgetW: 900_000,
  budgetReason: "contract",
  budgetSource: "contract",
  alarms: ["ai-capped"],
  mode: "auto",
  classes: { ai: { powerW: 300_000 }, mining: { powerW: 480_000 }, aux: { powerW: null } },
  counts: { hashing: 10, sleeping: 2, starting: 0, faulted: 1, unreachable: 1, excluded: 0 },
  hashrateThs: 1234.5,
  meter: { ok: true, ageS: 0.4 },
  broker: null,
  gateway: null,
  lease: { watts: 700_000, expiresAt: new Date(1_000_000 + 300_000).toISOString(), reason: "DR 4471" },
};

export const devices = {
  miners: [
    {
      id: "m-001",
      class: "mining",
      excluded: false,
      state: "hashing",
      reason: null,
      powerW: 3250,
      powerEstimated: false,
      powerLimitW: 3500,
      hashrateThs: 110.2,
      chipTempMaxC: 71,
      boardTempsC: [60, 62],
      model: "S19 XP",
      firmware: "LuxOS",
      dialect: "luxos",
      location: "c1",
      priority: 5,
    },
    { id: "m-002", class: "mining", excluded: true, state: null, at: null, location: null, priority: 5 },
  ],
  meters: [{ id: "pcc", role: "site", ok: true, ageS: 0.3, powerW: 812_345.5, reason: null }],
  gpuNodes: [
    {
      id: "gpu-a",
      class: "ai",
      excluded: false,
      state: "ok",
      reason: null,
      powerW: 5600,
      location: "hall",
      gpus: [
        { index: 0, powerW: 700, enforcedPowerLimitW: 700, powerLimitW: 700, tempC: 65, busy: true },
        { index: 1, powerW: 690, enforcedPowerLimitW: 650, powerLimitW: 700, tempC: 70, busy: false },
      ],
    },
  ],
} as unknown as DevicesView;
