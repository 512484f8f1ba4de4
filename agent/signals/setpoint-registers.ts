// The register map a QSE's RTU reads and writes on the agent's Modbus TCP
// server (docs/design.md, Grid signals), as pure state: writes are judged
// here (out of the map → exception 02, out of range → 03, never applied), the
// heartbeat's age decides whether the setpoint still stands, and the input
// registers are encoded from what the site reports. Addresses are 0-based;
// 32-bit values take two registers, high word first.
//
//   holding 0–1  setpointKw  u32  the budget in kW while enabled
//   holding 2    enable      u16  1 = in force, 0 = released
//   holding 3    heartbeat   u16  changed by the RTU at least every staleS
//   input   0–1  sitePowerKw s32  measured site power
//   input   2–3  budgetKw    u32  effective budget
//   input   4–5  flexibleKw  u32  mining power that could be shed now
//   input   6    status      u16  bit0 loop healthy, bit1 setpoint in force, bit2 meter ok,
//                                 bit3 failsafe, bit4 setpoint stale
//   input   7    heartbeatEcho u16 the last heartbeat seen
import type { OnStale, SiteReadback } from "./types.ts";

const HOLDING = { setpointHi: 0, setpointLo: 1, enable: 2, heartbeat: 3 } as const;
export const HOLDING_COUNT = 4;
export const INPUT_COUNT = 8;

export const STATUS_BITS = {
  loopHealthy: 1 << 0,
  inForce: 1 << 1,
  meterOk: 1 << 2,
  failsafe: 1 << 3,
  stale: 1 << 4,
} as const;

/** Modbus exception codes a write can earn. */
export const ILLEGAL_ADDRESS = 0x02;
export const ILLEGAL_VALUE = 0x03;

export interface SetpointLimits {
  /** The highest setpoint taken (the site's contract), W. */
  maxW: number;
  staleS: number;
  onStale: OnStale;
  failsafeBudgetW: number;
}

export type WriteResult = { ok: true; changed: boolean } | { ok: false; exception: number; why: string };

export interface SetpointView {
  state: "active" | "idle" | "stale";
  /** The budget asked for (W), or null. */
  budgetW: number | null;
  reason: string;
}

export class SetpointRegisters {
  private words = [0, 0, 0, 0];
  /** When the heartbeat last changed (or the setpoint was enabled): the RTU is alive. */
  private aliveAt: number;

  constructor(
    private readonly limits: SetpointLimits,
    now: number,
  ) {
    this.aliveAt = now;
  }

  get setpointKw(): number {
    return this.words[HOLDING.setpointHi]! * 65536 + this.words[HOLDING.setpointLo]!;
  }

  get enabled(): boolean {
    return this.words[HOLDING.enable] === 1;
  }

  readHolding(address: number): number | null {
    return address >= 0 && address < HOLDING_COUNT ? this.words[address]! : null;
  }

  /**
   * One write (FC06: one word; FC16: several), judged as a whole: a word
   * outside the map, a setpoint above the contract or an enable other than
   * 0/1 refuses all of it.
   */
  write(address: number, values: readonly number[], now: number): WriteResult {
    if (address < 0 || address + values.length > HOLDING_COUNT || values.length === 0) {
      return {
        ok: false,
        exception: ILLEGAL_ADDRESS,
        why: `registers ${address}..${address + values.length - 1} are not writable`,
      };
    }
    const next = [...this.words];
    values.forEach((v, i) => {
      next[address + i] = v & 0xffff;
    });
    const setpointKw = next[HOLDING.setpointHi]! * 65536 + next[HOLDING.setpointLo]!;
    if (setpointKw * 1000 > this.limits.maxW) {
      return {
        ok: false,
        exception: ILLEGAL_VALUE,
        why: `setpoint ${setpointKw} kW above the contract limit ${Math.round(this.limits.maxW / 1000)} kW`,
      };
    }
    if (next[HOLDING.enable] !== 0 && next[HOLDING.enable] !== 1) {
      return {
        ok: false,
        exception: ILLEGAL_VALUE,
        why: `enable must be 0 or 1, got ${next[HOLDING.enable]}`,
      };
    }
    const changed = next.some((w, i) => w !== this.words[i]);
    const beat = next[HOLDING.heartbeat] !== this.words[HOLDING.heartbeat];
    const enabling = next[HOLDING.enable] === 1 && this.words[HOLDING.enable] !== 1;
    this.words = next;
    if (beat || enabling) this.aliveAt = now;
    return { ok: true, changed };
  }

  /** What the setpoint asks for now, by the heartbeat's age and onStale. */
  view(now: number): SetpointView {
    if (!this.enabled) return { state: "idle", budgetW: null, reason: "setpoint released (enable 0)" };
    const setpointW = this.setpointKw * 1000;
    const ageS = (now - this.aliveAt) / 1000;
    if (ageS <= this.limits.staleS) {
      return { state: "active", budgetW: setpointW, reason: `setpoint ${this.setpointKw} kW from the RTU` };
    }
    const quiet = `heartbeat unchanged for ${Math.round(ageS)} s`;
    switch (this.limits.onStale) {
      case "hold":
        return {
          state: "stale",
          budgetW: setpointW,
          reason: `${quiet}: holding the setpoint ${this.setpointKw} kW`,
        };
      case "failsafe":
        return { state: "stale", budgetW: this.limits.failsafeBudgetW, reason: `${quiet}: failsafe budget` };
      case "release":
        return { state: "stale", budgetW: null, reason: `${quiet}: setpoint released` };
    }
  }

  /** The input registers, from what the site reports. */
  inputs(site: SiteReadback, now: number): number[] {
    const v = this.view(now);
    const status =
      (site.loopHealthy ? STATUS_BITS.loopHealthy : 0) |
      (v.state === "active" || (v.state === "stale" && v.budgetW !== null) ? STATUS_BITS.inForce : 0) |
      (site.meterOk ? STATUS_BITS.meterOk : 0) |
      (site.failsafe ? STATUS_BITS.failsafe : 0) |
      (v.state === "stale" ? STATUS_BITS.stale : 0);
    return [
      ...s32(site.powerW === null ? 0 : Math.round(site.powerW / 1000)),
      ...u32(site.budgetW === null ? 0 : Math.round(site.budgetW / 1000)),
      ...u32(Math.round(site.flexibleW / 1000)),
      status,
      this.words[HOLDING.heartbeat]!,
    ];
  }
}

function u32(v: number): [number, number] {
  const x = Math.max(0, Math.min(0xffffffff, v)) >>> 0;
  return [x >>> 16, x & 0xffff];
}

function s32(v: number): [number, number] {
  const x = Math.max(-0x80000000, Math.min(0x7fffffff, v)) | 0;
  return [(x >>> 16) & 0xffff, x & 0xffff];
}
