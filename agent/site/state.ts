// The site snapshot: the latest reading of every device with its age, and the
// totals derived from them (site power, power per load class, miner counts by
// state). The snapshot is built once per tick so every consumer (log line,
// HTTP, MQTT, the control loop) sees one consistent picture.
import type { MeterConfig, MinerConfig, SiteConfig } from "../../config/schema.ts";
import type { GpuNodeReading } from "../../drivers/nvidia/types.ts";
import type { MeterReading, MeterRole, MinerReading, MinerState } from "../../drivers/types.ts";
import { type MinerHealth, noteHealth } from "../devices/miner-health.ts";
import { modelsOf } from "../devices/models.ts";
import { mergeReadBack } from "./read-back.ts";

/** What a miner's driver knows of it: the detected dialect and what it can do. */
export interface MinerDriverView {
  dialect: string | null;
  capabilities: string[];
  withdrawn: Array<{ capability: string; reason: string }>;
}

/** The reading shapes the snapshot holds, for channels (MQTT, HTTP), which never import drivers. */
export type { GpuNodeReading, MinerReading };

export interface MeterStatus {
  id: string;
  role: MeterRole;
  ok: boolean;
  /** Seconds since the last good reading; null when it never read. */
  ageS: number | null;
  powerW: number | null;
  reason: string | null;
}

export interface SiteSnapshot {
  at: number;
  siteId: string;
  /** Measured site power (site meter), or an estimate when the meter is stale; null when neither. */
  powerW: number | null;
  powerSource: "meter" | "estimate" | null;
  /** When the site meter took the reading behind powerW (meter source only). */
  powerAt: number | null;
  /** Power by load class; aux without a meter of its own is derived (site − mining − AI) while the site meter reads. */
  classes: Record<"ai" | "mining", { powerW: number | null }> & {
    aux: { powerW: number | null; derived?: boolean };
  };
  counts: Record<MinerState | "excluded", number>;
  hashrateThs: number;
  meter: { ok: boolean; ageS: number | null } | null;
  meters: MeterStatus[];
}

export interface MinerEntry {
  config: MinerConfig;
  reading: MinerReading | null;
  /** The firmware it reported first in this run, and a change from it (kept FIRMWARE_CHANGE_MS). */
  firmware?: { known: string; change: FirmwareChange | null };
  /** Since when its hashrate, boards and temperatures have been off (agent/devices/miner-health.ts). */
  health?: MinerHealth;
  /** When the read-back of the agent's latest write to it was taken (read-back.ts). */
  readBackAt?: number;
}

/** A miner's firmware changed under the agent: an update that may break its API. */
export interface FirmwareChange {
  from: string;
  to: string;
  at: number;
}

/** How long a firmware change is reported before the new firmware is taken as the known one. */
export const FIRMWARE_CHANGE_MS = 24 * 3_600_000;

interface MeterEntry {
  config: MeterConfig;
  /** The newest attempt, good or not. */
  last: MeterReading | null;
  /** The newest good reading: its age decides staleness. */
  lastGood: MeterReading | null;
}

export class SiteState {
  readonly config: SiteConfig;
  readonly miners = new Map<string, MinerEntry>();
  /** Latest reading per GPU node (null until its first read). */
  readonly gpuNodes = new Map<string, GpuNodeReading | null>();
  private readonly meters = new Map<string, MeterEntry>();

  constructor(config: SiteConfig) {
    this.config = config;
    // every entry of one shape from the start (see oneShape)
    for (const m of config.miners)
      this.miners.set(m.id, {
        config: m,
        reading: null,
        firmware: undefined,
        health: undefined,
        readBackAt: undefined,
      });
    for (const m of config.meters) this.meters.set(m.id, { config: m, last: null, lastGood: null });
    for (const g of config.gpuNodes) this.gpuNodes.set(g.id, null);
  }

  /**
   * Takes over the latest readings of a site this one replaces (a reload), for
   * every device still configured the same way: the same id at the same
   * address (and, for meters, the same unit, profile and role). The site does
   * not start blind: no "meter stale" failsafe, no miners unknown for a sweep.
   * Their ages go on from when they were read.
   */
  adopt(prev: SiteState): void {
    const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
    for (const [id, entry] of this.miners) {
      const old = prev.miners.get(id);
      if (old && old.config.host === entry.config.host && old.config.port === entry.config.port) {
        entry.reading = old.reading;
        entry.firmware = old.firmware;
        entry.health = old.health;
        entry.readBackAt = old.readBackAt;
      }
    }
    for (const [id, entry] of this.meters) {
      const old = prev.meters.get(id);
      if (
        old &&
        old.config.role === entry.config.role &&
        old.config.profile.name === entry.config.profile.name &&
        same(old.config.modbus, entry.config.modbus)
      ) {
        entry.last = old.last;
        entry.lastGood = old.lastGood;
      }
    }
    for (const g of this.config.gpuNodes) {
      const old = prev.config.gpuNodes.find((o) => o.id === g.id);
      if (old && old.host === g.host && old.port === g.port)
        this.gpuNodes.set(g.id, prev.gpuNodes.get(g.id) ?? null);
    }
  }

  setGpuReading(id: string, reading: GpuNodeReading): void {
    if (this.gpuNodes.has(id)) this.gpuNodes.set(id, reading);
  }

  /** AI power from the GPU nodes' reports; null until every node has reported a draw. */
  private gpuPowerW(): number | null {
    let total = 0;
    for (const r of this.gpuNodes.values()) {
      if (r?.powerW == null) return null;
      total += r.powerW;
    }
    return total;
  }

  /**
   * Whether a poll that began at `startedAt` began before the read-back of a write to the
   * miner: it may show the miner as it was before that write (a sleep it would undo on the
   * page and in the plan until the next sweep), so the poller leaves it out.
   */
  predatesReadBack(id: string, startedAt: number): boolean {
    const at = this.miners.get(id)?.readBackAt;
    return at !== undefined && startedAt < at;
  }

  setMinerReading(id: string, reading: MinerReading): MinerReading | null {
    const entry = this.miners.get(id);
    if (!entry) return null;
    const previous = entry.reading;
    entry.reading = oneShape(reading);
    noteFirmware(entry, reading);
    entry.health = noteHealth(entry.health, reading, modelsOf(this.config).find(reading.model));
    return previous;
  }

  /**
   * The read-back that confirmed (or failed to confirm) a write: what the miner shows now,
   * merged into its reading (read-back.ts). An unreachable read-back is the poller's to judge.
   */
  setMinerReadBack(id: string, after: MinerReading): void {
    const entry = this.miners.get(id);
    if (!entry || after.state === "unreachable") return;
    // a poll that ended after it is newer still
    if (entry.reading !== null && entry.reading.at > after.at) return;
    entry.reading = oneShape(mergeReadBack(entry.reading, after));
    entry.readBackAt = after.at;
  }

  setMeterReading(id: string, reading: MeterReading): void {
    const entry = this.meters.get(id);
    if (!entry) return;
    entry.last = reading;
    if (reading.ok) entry.lastGood = reading;
  }

  meterStatus(now: number): MeterStatus[] {
    const staleMs = this.config.control.meterStaleS * 1000;
    return [...this.meters.values()].map(({ config, last, lastGood }) => {
      const ageMs = lastGood ? now - lastGood.at : null;
      const fresh = ageMs !== null && ageMs <= staleMs;
      return {
        id: config.id,
        role: config.role,
        ok: fresh && last?.ok === true,
        ageS: ageMs === null ? null : Math.round(ageMs / 100) / 10,
        // a stale value is never presented as the current one
        powerW: fresh ? (lastGood?.powerW ?? null) : null,
        reason: fresh ? (last?.ok ? null : (last?.reason ?? null)) : (last?.reason ?? "no reading yet"),
      };
    });
  }

  snapshot(now: number = Date.now(), isExcluded: (id: string) => boolean = () => false): SiteSnapshot {
    const counts: SiteSnapshot["counts"] = {
      hashing: 0,
      sleeping: 0,
      starting: 0,
      faulted: 0,
      unreachable: 0,
      excluded: 0,
    };
    let miningW = 0;
    let miningKnown = false;
    let hashrateThs = 0;
    for (const { config, reading } of this.miners.values()) {
      // excluded is counted beside the state: a miner in maintenance is still hashing or asleep
      if (isExcluded(config.id)) counts.excluded++;
      if (!reading) continue;
      counts[reading.state]++;
      if (reading.powerW !== null) {
        miningW += reading.powerW;
        miningKnown = true;
      }
      hashrateThs += reading.hashrateThs ?? 0;
    }

    const meters = this.meterStatus(now);
    const site = meters.find((m) => m.role === "site") ?? null;
    const mining = byRole(meters, "mining")?.powerW ?? (miningKnown ? miningW : null);
    const ai = byRole(meters, "ai")?.powerW ?? this.gpuPowerW();
    const auxMetered = byRole(meters, "aux")?.powerW ?? null;
    const { powerW, powerSource, powerAt } = this.sitePower(meters, () => mining, ai, auxMetered);

    return {
      at: now,
      siteId: this.config.site.id,
      powerW,
      powerSource,
      powerAt,
      classes: {
        ai: { powerW: ai },
        mining: { powerW: mining },
        aux: auxClass(auxMetered, { source: powerSource, siteW: powerW, miningW: mining, aiW: ai }),
      },
      counts,
      // full precision: a fleet of small miners must not add up to 0 (display rounds, in a unit that fits)
      hashrateThs,
      meter: site ? { ok: site.ok, ageS: site.ageS } : null,
      meters,
    };
  }

  /**
   * The site's draw as the planner needs it, each tick. Unlike snapshot() it walks the
   * miners only when it must: for an estimate, the site meter stale and no mining meter.
   */
  planPower(now: number = Date.now()): Pick<SiteSnapshot, "powerW" | "powerSource" | "powerAt" | "meters"> & {
    aiW: number | null;
  } {
    const meters = this.meterStatus(now);
    const aiW = byRole(meters, "ai")?.powerW ?? this.gpuPowerW();
    const auxW = byRole(meters, "aux")?.powerW ?? null;
    const mining = () => byRole(meters, "mining")?.powerW ?? this.minersPowerW();
    return { ...this.sitePower(meters, mining, aiW, auxW), aiW, meters };
  }

  /** The miners' own reports summed; null when none reports a draw. */
  private minersPowerW(): number | null {
    let w = 0;
    let known = false;
    for (const { reading } of this.miners.values()) {
      if (reading?.powerW == null) continue;
      w += reading.powerW;
      known = true;
    }
    return known ? w : null;
  }

  /** The site meter's draw while it is fresh, else the devices' reports plus the unmetered load; `miningW` is asked only then. */
  private sitePower(
    meters: readonly MeterStatus[],
    miningW: () => number | null,
    aiW: number | null,
    auxW: number | null,
  ): Pick<SiteSnapshot, "powerW" | "powerSource" | "powerAt"> {
    const site = meters.find((m) => m.role === "site");
    if (site?.ok === true && site.powerW !== null) {
      return {
        powerW: site.powerW,
        powerSource: "meter",
        powerAt: this.meters.get(site.id)?.lastGood?.at ?? null,
      };
    }
    const mining = miningW();
    if (mining === null || aiW === null) return { powerW: null, powerSource: null, powerAt: null };
    // meter stale or absent: device reports plus the configured unmetered load
    return {
      powerW: mining + aiW + (auxW ?? 0) + this.config.control.unmeteredW,
      powerSource: "estimate",
      powerAt: null,
    };
  }

  /** When a meter's newest good reading was taken; null when it never read. */
  meterReadAt(id: string): number | null {
    return this.meters.get(id)?.lastGood?.at ?? null;
  }
}

/** The first meter of a role with a value. */
function byRole(meters: readonly MeterStatus[], role: MeterRole): MeterStatus | undefined {
  return meters.find((m) => m.role === role && m.powerW !== null);
}

/** Of two bounds, the tighter (`pick`: Math.max for a floor, Math.min for a ceiling); null when neither. */
export function tighter(
  a: number | null | undefined,
  b: number | null | undefined,
  pick: (x: number, y: number) => number,
): number | null {
  if (a == null) return b ?? null;
  return b == null ? a : pick(a, b);
}

/**
 * The reading in one fixed shape. Each dialect builds its readings with its own fields
 * and order, so the loops over the whole fleet on every tick (this snapshot, the plan
 * view, the problems check, telemetry rows) met a dozen shapes at each property read:
 * at 20,000 miners such a loop took ten times as long as over readings of one shape.
 * Absent optional fields stay undefined, as the type says.
 */
function oneShape(r: MinerReading): MinerReading {
  return {
    at: r.at,
    state: r.state,
    reason: r.reason,
    hashrateThs: r.hashrateThs,
    powerW: r.powerW,
    powerEstimated: r.powerEstimated,
    powerLimitW: r.powerLimitW,
    minPowerLimitW: r.minPowerLimitW,
    maxPowerLimitW: r.maxPowerLimitW,
    powerLimitStepsW: r.powerLimitStepsW,
    boardTempsC: r.boardTempsC,
    chipTempMaxC: r.chipTempMaxC,
    fanRpm: r.fanRpm,
    boards: r.boards,
    pools: r.pools,
    uptimeS: r.uptimeS,
    firmware: r.firmware,
    model: r.model,
    detailAt: r.detailAt,
  };
}

/** Notes the firmware a reading reports: the first one is the known one, a different one a change. */
function noteFirmware(entry: MinerEntry, reading: MinerReading): void {
  const fw = reading.firmware;
  if (!fw) return;
  if (!entry.firmware) {
    entry.firmware = { known: fw, change: null };
    return;
  }
  const f = entry.firmware;
  if (f.change && reading.at - f.change.at >= FIRMWARE_CHANGE_MS) {
    // reported long enough: the new firmware is the known one now
    f.known = f.change.to;
    f.change = null;
  }
  if (fw === f.known) f.change = null;
  else if (!f.change || f.change.to !== fw) f.change = { from: f.known, to: fw, at: reading.at };
}

/** Aux from its own meter; else, while the site meter reads, what the site draws beyond mining and AI. */
function auxClass(
  metered: number | null,
  site: {
    source: SiteSnapshot["powerSource"];
    siteW: number | null;
    miningW: number | null;
    aiW: number | null;
  },
): SiteSnapshot["classes"]["aux"] {
  const { source, siteW, miningW, aiW } = site;
  if (metered !== null) return { powerW: metered };
  if (source === "meter" && siteW !== null && miningW !== null && aiW !== null) {
    return { powerW: Math.max(0, Math.round(siteW - miningW - aiW)), derived: true };
  }
  return { powerW: null };
}
