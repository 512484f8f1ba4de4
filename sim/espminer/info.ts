// The simulated AxeOS's `GET /api/system/info` body, written the way each
// ESP-Miner release writes it (the sim's own encoder, from the firmware's
// sources): v2.0 has fanSpeed and no boardVersion; v2.1 adds boardVersion;
// v2.4 fanrpm, vrTemp, hostname and the fallback pool; v2.9 axeOSVersion and
// friends; v2.12 turns bestDiff from a string ("4.29G") into a number; v2.13
// adds temp2, fan2rpm and the hashrate averages; v2.14 miningPaused. A
// `drift` makes it send what no release sends, for the driver to notice.
import type { MinerView } from "../power-model.ts";

/** A reply no release sends: hashRate as a string, or miningPaused gone from a v2.14+ unit. */
export type EspminerDrift = "hashrate-string" | "paused-gone";

export interface SimVersion {
  major: number;
  minor: number;
  patch: number;
}

export function simVersion(text: string): SimVersion {
  const m = /^v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  if (!m) return { major: 0, minor: 0, patch: 0 };
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0) };
}

export function since(v: SimVersion, major: number, minor: number): boolean {
  return v.major > major || (v.major === major && v.minor >= minor);
}

/** What a unit is set to and has done, beside the power model's view of it. */
export interface UnitSettings {
  id: string;
  version: string;
  asicModel: string;
  boardVersion: string;
  hostname: string;
  frequencyMhz: number;
  coreVoltageMv: number;
  stratumUrl: string;
  stratumPort: number;
  stratumUser: string;
  drift: EspminerDrift | null;
}

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

/** Best difficulty as the older firmware printed it ("4.29G"). */
function diffString(d: number): string {
  const units = ["", "k", "M", "G", "T", "P"];
  let i = 0;
  while (d >= 1000 && i < units.length - 1) {
    d /= 1000;
    i++;
  }
  return `${round(d)}${units[i]}`;
}

export function infoBody(u: UnitSettings, view: MinerView): Record<string, unknown> {
  const v = simVersion(u.version);
  const paused = view.state === "sleeping";
  const mining = view.state === "hashing";
  const hashGhs = round(view.hashrateThs * 1000);
  const accepted = Math.floor(view.workTh * 3);
  const bestDiff = 4_290_000_000 + (accepted % 1000) * 1_000_000;
  // a paused unit holds its ASIC in reset with the core voltage cut; the fan runs at 30 %
  const coreActual = mining ? u.coreVoltageMv - 8 : 0;
  const fanPct = paused ? 30 : mining ? 65 : 100;
  const o: Record<string, unknown> = {
    power: round(view.powerW),
    voltage: round(5100 - view.powerW * 4),
    current: round((view.powerW / 5) * 1000),
    temp: view.chipTempsC[0] ?? null,
  };
  if (since(v, 2, 13)) o.temp2 = -1;
  if (since(v, 2, 4)) o.vrTemp = view.boardTempsC[0] ?? null;
  if (since(v, 2, 9)) {
    o.maxPower = 40;
    o.nominalVoltage = 5;
  }
  o.hashRate = u.drift === "hashrate-string" ? `${hashGhs} GH/s` : hashGhs;
  if (since(v, 2, 13)) {
    o.hashRate_1m = hashGhs;
    o.hashRate_10m = hashGhs;
    o.hashRate_1h = round(view.avgHashrateThs * 1000);
    o.errorPercentage = 0.12;
  }
  if (since(v, 2, 9)) o.expectedHashrate = round(view.expectedThs * 1000);
  o.bestDiff = since(v, 2, 12) ? bestDiff : diffString(bestDiff);
  if (since(v, 2, 4)) o.bestSessionDiff = since(v, 2, 12) ? bestDiff / 4 : diffString(bestDiff / 4);
  if (since(v, 2, 4)) o.isUsingFallbackStratum = 0;
  o.freeHeap = 8_123_456;
  o.coreVoltage = u.coreVoltageMv;
  o.coreVoltageActual = coreActual;
  o.frequency = u.frequencyMhz;
  o.ssid = "wattkeeper-sim";
  if (since(v, 2, 4)) {
    o.macAddr = "02:00:00:00:13:03";
    o.hostname = u.hostname;
  }
  o.wifiStatus = "Connected!";
  if (since(v, 2, 9)) {
    o.wifiRSSI = -52;
    o.apEnabled = 0;
  }
  o.sharesAccepted = accepted;
  o.sharesRejected = Math.floor(accepted / 500);
  o.uptimeSeconds = view.uptimeS;
  if (since(v, 2, 4)) o.smallCoreCount = 2040;
  o.ASICModel = u.asicModel;
  o.stratumURL = u.stratumUrl;
  o.stratumPort = u.stratumPort;
  o.stratumUser = u.stratumUser;
  if (since(v, 2, 4)) {
    o.fallbackStratumURL = "solo.sim.invalid";
    o.fallbackStratumPort = 3333;
    o.fallbackStratumUser = u.stratumUser;
  }
  o.version = u.version;
  if (since(v, 2, 9)) {
    o.axeOSVersion = u.version;
    o.idfVersion = "v5.4.1";
  }
  if (since(v, 2, 1)) o.boardVersion = u.boardVersion;
  o.runningPartition = "ota_0";
  if (since(v, 2, 4)) o.overheat_mode = 0;
  if (since(v, 2, 1)) o.autofanspeed = 1;
  if (v.major === 2 && v.minor < 4) o.fanSpeed = fanPct;
  if (since(v, 2, 1)) o.fanspeed = fanPct;
  if (since(v, 2, 4)) o.fanrpm = view.fanRpm[0] ?? 0;
  if (since(v, 2, 13)) o.fan2rpm = 0;
  if (since(v, 2, 14) && u.drift !== "paused-gone") o.miningPaused = paused;
  return o;
}
