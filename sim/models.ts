// A small table of real ASIC models the simulated site draws from. Figures are
// the vendors' nominal spec-sheet values; the sim varies each unit a little
// around them (sim/power-model.ts) so a fleet does not look cloned.

export interface MinerModel {
  /** Stable key used in sim options and configs. */
  key: string;
  vendor: "Bitmain" | "MicroBT" | "Proto" | "Bitaxe";
  /** What the firmware reports as `Type` (Antminer) / model name. */
  type: string;
  nominalThs: number;
  nominalW: number;
  /** Draw while asleep: control board, PSU standby and idle fans. */
  sleepW: number;
  /**
   * Draw in the stock firmware's low-power mode (Antminer miner-mode 3); absent where the
   * model has none. The sim's own figure: 70 % of nameplate, as config/models estimates it.
   */
  lowPowerW?: number;
  /** Hashboards; Antminer `stats` numbers them chain_rate1..N. */
  chains: number;
  chipsPerChain: number;
  fans: number;
  /** Firmware strings a stock unit of this model reports. */
  firmware: { miner: string; compileTime: string };
}

export const MINER_MODELS: Readonly<Record<string, MinerModel>> = {
  "antminer-s19j-pro": {
    key: "antminer-s19j-pro",
    vendor: "Bitmain",
    type: "Antminer S19j Pro",
    nominalThs: 104,
    nominalW: 3068,
    sleepW: 30,
    lowPowerW: 2150,
    chains: 3,
    chipsPerChain: 126,
    fans: 4,
    firmware: { miner: "uart_trans.1.3", compileTime: "Mon Sep 26 15:01:33 CST 2022" },
  },
  "antminer-s19-xp": {
    key: "antminer-s19-xp",
    vendor: "Bitmain",
    type: "Antminer S19 XP",
    nominalThs: 141,
    nominalW: 3010,
    sleepW: 28,
    lowPowerW: 2110,
    chains: 3,
    chipsPerChain: 110,
    fans: 4,
    firmware: { miner: "uart_trans.1.3", compileTime: "Thu Feb 16 10:12:41 CST 2023" },
  },
  "antminer-s21": {
    key: "antminer-s21",
    vendor: "Bitmain",
    type: "Antminer S21",
    nominalThs: 200,
    nominalW: 3500,
    sleepW: 35,
    lowPowerW: 2450,
    chains: 3,
    chipsPerChain: 108,
    fans: 4,
    firmware: { miner: "uart_trans.1.3", compileTime: "Fri Dec 15 17:30:05 CST 2023" },
  },
  "whatsminer-m50s": {
    key: "whatsminer-m50s",
    vendor: "MicroBT",
    type: "WhatsMiner M50S",
    nominalThs: 126,
    nominalW: 3276,
    sleepW: 25,
    chains: 3,
    chipsPerChain: 105,
    fans: 2,
    firmware: { miner: "btminer 2.0.7", compileTime: "20230301.22" },
  },
  // Proto Fleet's own rig simulator's defaults (server/fake-proto-rig), not a spec sheet:
  // 4 hashboards of 120 ASICs, ~140 TH/s at 3.4 kW, 30 W with mining stopped
  "proto-rig": {
    key: "proto-rig",
    vendor: "Proto",
    type: "Proto Rig",
    nominalThs: 140,
    nominalW: 3400,
    sleepW: 30,
    chains: 4,
    chipsPerChain: 120,
    fans: 4,
    firmware: { miner: "1.8.2", compileTime: "20260813T000000Z" },
  },
  // ESP-Miner's defaults for board 601 (BM1370 at 525 MHz, 2040 small cores:
  // 2040 × 525 MH/s ≈ 1.07 TH/s; power target 19 W). Paused, the ASIC is
  // unpowered and the ESP32 and the fan at 30 % draw a few watts.
  "bitaxe-gamma": {
    key: "bitaxe-gamma",
    vendor: "Bitaxe",
    type: "Bitaxe Gamma 601",
    nominalThs: 1.07,
    nominalW: 19,
    sleepW: 3,
    chains: 1,
    chipsPerChain: 1,
    fans: 1,
    firmware: { miner: "esp-miner v2.14.0", compileTime: "" },
  },
};

/** Models the stock cgminer/bmminer sim serves by default (the Whatsminer speaks its own API). */
export const DEFAULT_MODEL_KEYS: readonly string[] = ["antminer-s19j-pro", "antminer-s19-xp", "antminer-s21"];

export function getMinerModel(key: string): MinerModel {
  const m = MINER_MODELS[key];
  if (!m) {
    throw new Error(`unknown miner model "${key}" (known: ${Object.keys(MINER_MODELS).join(", ")})`);
  }
  return m;
}
