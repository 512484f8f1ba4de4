// Per-miner state of the simulated Whatsminers, shared by the API v2 (4028)
// and v3 (4433) servers: the write password and switches, issued v2 tokens,
// the device salts, and the reboot timers of `adjust_power_limit`/`reboot`.
// Kept per PowerModel so two sims in one process never see each other.
import { createHash, randomBytes } from "node:crypto";
import type { PowerModel } from "../power-model.ts";
import { simAesKey } from "./codec.ts";

export interface WhatsminerSimConfig {
  /** The write password (v2 and v3). Default "admin": the factory default, refused for writes. */
  password?: string;
  /** The WhatsMinerTool "API write access" switch. Default true. */
  writeApi?: boolean;
  /** "obsolete": v2 get_token and writes answer that the API moved to v3 (newer firmware). */
  v2Writes?: "ok" | "obsolete";
  /** Life of a v2 token (default 30 min, as the firmware). */
  tokenTtlMs?: number;
  /** How long a reboot (`adjust_power_limit`, `reboot`) keeps the API down. Default 3000 ms. */
  rebootMs?: number;
  /** The btminer `""temp0` missing comma in the `devs` reply. Default true. */
  devsQuirk?: boolean;
  /** `Error Code N` entries in summary; with many, replies overflow `replyLimitBytes`. Default 0. */
  errorCodes?: number;
  /** btminer's reply buffer: longer replies are cut here (no closing brackets). Default 8192. */
  replyLimitBytes?: number;
}

interface IssuedToken {
  sign: string;
  issuedAt: number;
  ip: string;
}

export interface WhatsminerSimMiner {
  id: string;
  cfg: Required<WhatsminerSimConfig>;
  /** Crypt salt of the v2 password (fixed per device). */
  salt: string;
  /** The v3 device salt (`get.device.info` salt). */
  v3Salt: string;
  tokens: IssuedToken[];
  /** Counters tests look at. */
  stats: { tokensIssued: number; tokenRejects: number; writes: number; denied: number };
  aesKey(): Buffer;
}

const DEFAULTS: Required<WhatsminerSimConfig> = {
  password: "admin",
  writeApi: true,
  v2Writes: "ok",
  tokenTtlMs: 30 * 60_000,
  rebootMs: 3000,
  devsQuirk: true,
  errorCodes: 0,
  replyLimitBytes: 8192,
};

const DEFAULT_PASSWORDS = new Set(["admin", "super"]);
const ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** `n` salt characters, from a seed string (deterministic) or at random. */
export function saltChars(n: number, seed?: string): string {
  const bytes = seed === undefined ? randomBytes(n) : createHash("sha256").update(seed).digest();
  let out = "";
  for (let i = 0; i < n; i++) out += ITOA64[bytes[i]! & 0x3f];
  return out;
}

const registry = new WeakMap<PowerModel, Map<string, WhatsminerSimMiner>>();
const timers = new WeakMap<PowerModel, Set<NodeJS.Timeout>>();

/** Sets (or updates) a simulated Whatsminer's configuration; returns its state. */
export function configureWhatsminer(
  model: PowerModel,
  id: string,
  cfg: WhatsminerSimConfig = {},
): WhatsminerSimMiner {
  let miners = registry.get(model);
  if (!miners) {
    miners = new Map();
    registry.set(model, miners);
  }
  const prev = miners.get(id);
  const full: Required<WhatsminerSimConfig> = { ...DEFAULTS, ...(prev?.cfg ?? {}) };
  for (const [k, v] of Object.entries(cfg)) if (v !== undefined) (full as Record<string, unknown>)[k] = v;
  let keyFor: string | null = null;
  let key: Buffer | null = null;
  const m: WhatsminerSimMiner = prev ?? {
    id,
    cfg: full,
    salt: saltChars(8, `v2:${id}`),
    v3Salt: saltChars(8, `v3:${id}`),
    tokens: [],
    stats: { tokensIssued: 0, tokenRejects: 0, writes: 0, denied: 0 },
    aesKey() {
      if (keyFor !== this.cfg.password || !key) {
        keyFor = this.cfg.password;
        key = simAesKey(this.cfg.password, this.salt);
      }
      return key;
    },
  };
  m.cfg = full;
  miners.set(id, m);
  return m;
}

/** The miner's state, configured with defaults on first use. */
export function whatsminerState(model: PowerModel, id: string): WhatsminerSimMiner {
  return registry.get(model)?.get(id) ?? configureWhatsminer(model, id);
}

function track(model: PowerModel, fn: () => void, ms: number): void {
  let set = timers.get(model);
  if (!set) {
    set = new Set();
    timers.set(model, set);
  }
  const s = set;
  const t = setTimeout(() => {
    s.delete(t);
    fn();
  }, ms);
  t.unref();
  s.add(t);
}

/**
 * Reboots a miner: its APIs go down (faulted: listeners closed, standby draw),
 * `during` runs while it is down (a new power limit), and it comes back after
 * rebootMs. The reply to the command goes out first.
 */
export function rebootMiner(model: PowerModel, m: WhatsminerSimMiner, during?: () => void): void {
  track(
    model,
    () => {
      model.setFaulted(m.id, true);
      during?.();
      track(model, () => model.setFaulted(m.id, false), m.cfg.rebootMs);
    },
    20,
  );
}

/** Cancels pending reboots (sim shutdown). */
export function cancelWhatsminerTimers(model: PowerModel): void {
  const set = timers.get(model);
  if (!set) return;
  for (const t of set) clearTimeout(t);
  set.clear();
}

/** Whether writes are refused outright: write API off, or a factory default password. */
export function writesDenied(m: WhatsminerSimMiner): boolean {
  return !m.cfg.writeApi || DEFAULT_PASSWORDS.has(m.cfg.password);
}

/** A power limit the firmware accepts: at most nominal, at least 30 % of it. */
export function validPowerLimit(nominalW: number, w: number): boolean {
  return Number.isFinite(w) && w <= Math.round(nominalW) && w >= nominalW * 0.3;
}

/**
 * The LED state as both APIs report it (v2 `ledstat`, v3 `ledstatus`): "auto" while the
 * firmware drives the LED; what a set pattern reads as is not documented ("manual" here:
 * clients read anything but "auto" as locating).
 */
export function ledstat(model: PowerModel, id: string): string {
  return model.leds.isOn(id) ? "manual" : "auto";
}
