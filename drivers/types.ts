// Reading types and capability names shared by every driver. Capabilities are
// data: the control loop asks `caps.has("sleep")`, never which class or model a
// device is. Drivers import nothing from agent/ or sim/.
import { z } from "zod";
import type { ErrorCode } from "./errors.ts";

const DIALECTS = [
  "auto",
  "cgminer",
  "antminer",
  "luxos",
  "braiins",
  "whatsminer",
  "avalon",
  "epic",
  "proto",
  "auradine",
  "espminer",
  "vnish",
] as const;
export const DialectSchema = z.enum(DIALECTS);
export type Dialect = z.infer<typeof DialectSchema>;

export const MINER_CAPABILITIES = ["sleep", "wake", "setPowerLimit", "reboot", "locate"] as const;
export type MinerCapability = (typeof MINER_CAPABILITIES)[number];

/**
 * What a `locate` write did (blink the unit's LED so a tech finds it in the rack):
 * the state asked, how it was confirmed, and who ends it.
 */
export interface LocateReport {
  /** Locating (LED blinking) asked, or off. */
  on: boolean;
  /**
   * How the state was confirmed: read back from the firmware, stated by the firmware in its
   * reply to the command (it has no read of its own), or not at all (it does not report it).
   */
  confirmedBy: "read-back" | "reply" | null;
  /**
   * A locate that is on: the firmware turns it off by itself after this many seconds; null =
   * it stays on until told, so whoever asked must turn it off.
   */
  firmwareEndsAfterS: number | null;
}

export const MINER_STATES = ["hashing", "sleeping", "starting", "faulted", "unreachable"] as const;
export type MinerState = (typeof MINER_STATES)[number];

/** Called once a write is on the wire, before the read-back that confirms it. */
export type OnSent = () => Promise<void> | void;

/** How one miner write runs (Miner.write's options). */
export interface MinerWriteOptions {
  signal?: AbortSignal | undefined;
  /** A fresh reading the caller holds (the poller's): the effect is confirmed against it, saving a read. */
  before?: MinerReading | null | undefined;
  onSent?: OnSent | undefined;
}

export interface PoolInfo {
  url: string | null;
  user: string | null;
  status: string | null;
}

/**
 * One hashboard (chain) as the firmware reports it, where it reports per-board
 * figures (Antminer `stats` chain_rateN…, `devs` rows). Unknown fields are null.
 */
export interface MinerBoard {
  /** The firmware's own number for it (Antminer chains from 1, `devs` from 0). */
  index: number;
  hashrateThs: number | null;
  /** What the firmware says this board should do (Antminer chain_rateidealN), TH/s. */
  idealThs: number | null;
  boardTempC: number | null;
  chipTempC: number | null;
  /** Chips the board answers with (Antminer chain_acnN). */
  chips: number | null;
  /** The firmware's word for it ("Alive", "Dead"), where it gives one. */
  status: string | null;
}

/** One miner's normalised reading (docs/design.md, Device model). Unknown fields are null. */
export interface MinerReading {
  at: number;
  state: MinerState;
  /** Why the state is what it is, when it is not plain `hashing` (e.g. "ECONNREFUSED"). */
  reason: string | null;
  hashrateThs: number | null;
  powerW: number | null;
  /** True when powerW was estimated from nominal power × hashrate ratio, not reported. */
  powerEstimated: boolean;
  powerLimitW: number | null;
  /**
   * The lowest power limit the firmware will take (LuxOS: its lowest profile),
   * where the dialect reports one; absent or null = unknown.
   */
  minPowerLimitW?: number | null;
  /** Highest power limit the firmware offers (LuxOS: its highest profile), where it says. */
  maxPowerLimitW?: number | null;
  /**
   * The limits the firmware actually applies, ascending, where it has discrete steps (LuxOS:
   * its profiles' watts; a target between two is applied as the lower). Absent = any watt.
   */
  powerLimitStepsW?: readonly number[] | null;
  boardTempsC: number[];
  chipTempMaxC: number | null;
  fanRpm: number[];
  /** Per hashboard, where the firmware gives per-board figures; absent or empty = it does not. */
  boards?: MinerBoard[];
  pools: PoolInfo[];
  uptimeS: number | null;
  firmware: string | null;
  model: string | null;
  /**
   * When the detail fields (boardTempsC, chipTempMaxC, fanRpm, boards, pools) were read, ms:
   * a poll of the essentials (state, hashrate, power) carries them over from the last detail
   * read (polling.minerDetailS). Absent = read with the rest (`at`); null = not read yet.
   */
  detailAt?: number | null;
}

/** The fields a detail read gives and a summary-only read carries over (MinerReading.detailAt). */
export const MINER_DETAIL_FIELDS = ["boardTempsC", "chipTempMaxC", "fanRpm", "boards", "pools"] as const;

export const METER_ROLES = ["site", "ai", "mining", "aux"] as const;
export type MeterRole = (typeof METER_ROLES)[number];

/** One meter's reading. powerW is signed (import positive). */
export interface MeterReading {
  at: number;
  ok: boolean;
  reason: string | null;
  powerW: number | null;
  energyKwh: number | null;
  voltageV: [number | null, number | null, number | null];
  currentA: [number | null, number | null, number | null];
  frequencyHz: number | null;
  powerFactor: number | null;
}

/** Errors carry a stable code and whether retrying can help. */
export class DriverError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  constructor(code: ErrorCode, message: string, retryable: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DriverError";
    this.code = code;
    this.retryable = retryable;
  }
}

/** One line for an error in a reason: a DriverError with its code, anything else by its message. */
export function describeError(err: unknown): string {
  if (err instanceof DriverError) return `${err.code}: ${err.message}`;
  return (err as Error)?.message ?? String(err);
}
