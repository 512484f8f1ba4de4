// One simulated miner unit's own physics, apart from the site: its record
// (state, unit-to-unit spread, power target, dead chains, work done), what it
// draws in a state, the hashrate it makes, and the view the protocol servers
// render. Pure functions of the record (plus its seeded jitter stream); the
// site-level bookkeeping (meters, energy, listeners, the clock) is PowerModel's.
import type { MinerModel } from "./models.ts";
import { hashSeed, mulberry32, symmetric } from "./prng.ts";

export type MinerState = "hashing" | "sleeping" | "starting" | "faulted";
/**
 * The hashboards as the miner process sees them: all working, all disabled by
 * an operator (`ascdisable`/`pgadisable`), all dead, or none detected. Unless
 * `ok`, the unit mines nothing and draws its controller's and fans' standby.
 */
export type Hashboards = "ok" | "disabled" | "dead" | "none";

/** Everything a protocol server needs to answer for one miner, sampled at one instant. */
export interface MinerView {
  id: string;
  model: MinerModel;
  state: MinerState;
  powerW: number;
  /** Short-average hashrate with a little jitter (0 unless hashing). */
  hashrateThs: number;
  /** Average since the mining process started (work / elapsed). */
  avgHashrateThs: number;
  /** Nominal of this particular unit (model nominal × its variation). */
  expectedThs: number;
  /** The power target in force (W), or null when the unit runs at nominal. */
  powerLimitW: number | null;
  uptimeS: number;
  /** Total work since boot, in TH (TH/s × s). */
  workTh: number;
  chainRatesThs: number[];
  chipTempsC: number[];
  boardTempsC: number[];
  fanRpm: number[];
  hashboards: Hashboards;
  /** Chains (0-based) that are dead while the others hash: no chips answer, no work. */
  deadChains: number[];
}

export interface MinerRecord {
  id: string;
  model: MinerModel;
  state: MinerState;
  /** Unit-to-unit spread around the model's nominal figures (fixed per id and seed). */
  powerVar: number;
  hashVar: number;
  tempOffsetC: number;
  fanVar: number;
  chainShares: number[];
  bootAt: number;
  startingUntil: number;
  /** Where a cleared fault returns to: a miner slept before it stays asleep after the reboot. */
  asleepBeforeFault: boolean;
  /** Firmware power target (W) while hashing; null = nominal. */
  powerLimitW: number | null;
  hashboards: Hashboards;
  /** Dead chains (0-based): they hash nothing and draw nothing; the others go on. */
  deadChains: Set<number>;
  /** Degrees added to every board and chip (a blocked filter, a hot aisle). */
  extraTempC: number;
  drawW: number;
  workTh: number;
  workSince: number;
  /** Read-time jitter stream per miner so concurrent polls don't perturb each other's sequences. */
  jitter: () => number;
}

/** A new unit of `model`, hashing, booted a seeded while ago, with its seeded spread. */
export function newMinerRecord(
  id: string,
  model: MinerModel,
  { seed, now }: { seed: number; now: number },
): MinerRecord {
  const r = mulberry32(hashSeed(seed, id));
  const shares = Array.from({ length: model.chains }, () => 1 + symmetric(r) * 0.02);
  const sum = shares.reduce((a, b) => a + b, 0);
  const rec: MinerRecord = {
    id,
    model,
    state: "hashing",
    powerVar: 1 + symmetric(r) * 0.03,
    hashVar: 1 + symmetric(r) * 0.03,
    tempOffsetC: symmetric(r) * 3,
    fanVar: 1 + symmetric(r) * 0.04,
    chainShares: shares.map((s) => s / sum),
    // up to three days of uptime so Elapsed looks like a fleet, not a fresh boot
    bootAt: now - Math.floor(r() * 3 * 86_400_000),
    startingUntil: 0,
    asleepBeforeFault: false,
    powerLimitW: null,
    hashboards: "ok",
    deadChains: new Set(),
    extraTempC: 0,
    drawW: 0,
    workTh: 0,
    workSince: now,
    jitter: mulberry32(hashSeed(seed ^ 0x5bd1e995, id)),
  };
  // work done before the sim started, so averages and share counters are plausible from the first poll
  rec.workTh = (model.nominalThs * rec.hashVar * (now - rec.bootAt)) / 1000;
  rec.drawW = drawFor(rec, "hashing");
  return rec;
}

/** Hashing with hashboards that can: the only condition in which work is done. */
function mining(m: MinerRecord): boolean {
  return m.state === "hashing" && m.hashboards === "ok";
}

export function drawFor(m: MinerRecord, state: MinerState): number {
  // no working hashboard: the controller and fans only, whatever the process thinks
  if (state === "hashing" && m.hashboards !== "ok") return m.model.sleepW * m.powerVar;
  switch (state) {
    case "hashing":
      return Math.min(
        m.model.nominalW * m.powerVar * liveShare(m),
        m.powerLimitW ?? Number.POSITIVE_INFINITY,
      );
    case "starting":
      // fans at full speed and boards initialising, not yet hashing
      return m.model.nominalW * m.powerVar * 0.25;
    default:
      return m.model.sleepW * m.powerVar;
  }
}

/** Books the work done at the current rate since workSince. */
export function closeWork(m: MinerRecord, at: number): void {
  if (mining(m))
    m.workTh += (m.model.nominalThs * m.hashVar * limitFactor(m) * liveShare(m) * (at - m.workSince)) / 1000;
  m.workSince = at;
}

/** The share of the unit's chains that are not dead. */
function liveShare(m: MinerRecord): number {
  if (m.deadChains.size === 0) return 1;
  let dead = 0;
  for (const c of m.deadChains) dead += m.chainShares[c] ?? 0;
  return Math.max(0, 1 - dead);
}

/** Hashrate share left under a power target: (P / Pnominal)^0.8. */
function limitFactor(m: MinerRecord): number {
  if (m.powerLimitW === null) return 1;
  return Math.min(1, m.powerLimitW / (m.model.nominalW * m.powerVar)) ** 0.8;
}

/** Short-average hashrate with seeded jitter around this unit's nominal; 0 unless mining. */
export function sampleThs(m: MinerRecord): number {
  return mining(m)
    ? m.model.nominalThs * m.hashVar * limitFactor(m) * liveShare(m) * (1 + symmetric(m.jitter) * 0.01)
    : 0;
}

/** One consistent sample of a miner at `now`, as the protocol servers render it. */
export function viewOf(m: MinerRecord, now: number): MinerView {
  const hashing = mining(m);
  const expectedThs = m.model.nominalThs * m.hashVar;
  const live = liveShare(m);
  const hashrateThs = sampleThs(m);
  const uptimeS = Math.max(0, Math.floor((now - m.bootAt) / 1000));
  const workTh =
    m.workTh + (hashing ? (expectedThs * limitFactor(m) * live * (now - m.workSince)) / 1000 : 0);
  // PCB and chip temperatures: warm when hashing, near ambient otherwise
  const pcbBase = m.state === "hashing" ? 58 : m.state === "starting" ? 40 : m.state === "sleeping" ? 30 : 27;
  const fanBase =
    m.state === "hashing" ? 5600 : m.state === "starting" ? 6000 : m.state === "sleeping" ? 900 : 0;
  const boardTempsC: number[] = [];
  const chipTempsC: number[] = [];
  for (let i = 0; i < m.model.chains; i++) {
    const pcb = Math.round(pcbBase + m.tempOffsetC + m.extraTempC + i + symmetric(m.jitter));
    boardTempsC.push(pcb);
    chipTempsC.push(hashing ? pcb + 12 : m.state === "starting" ? pcb + 4 : pcb);
  }
  const fanRpm: number[] = [];
  for (let i = 0; i < m.model.fans; i++) {
    fanRpm.push(fanBase === 0 ? 0 : Math.round((fanBase * m.fanVar + symmetric(m.jitter) * 60) / 10) * 10);
  }
  return {
    id: m.id,
    model: m.model,
    state: m.state,
    powerW: m.drawW,
    hashrateThs,
    avgHashrateThs: uptimeS > 0 ? workTh / uptimeS : 0,
    expectedThs,
    powerLimitW: m.powerLimitW,
    uptimeS,
    workTh,
    // the live chains share the hashrate in their proportions; a dead one does nothing
    chainRatesThs: m.chainShares.map((s, i) =>
      m.deadChains.has(i) || live === 0 ? 0 : (s / live) * hashrateThs,
    ),
    chipTempsC,
    boardTempsC,
    fanRpm,
    hashboards: m.hashboards,
    deadChains: [...m.deadChains].sort((a, b) => a - b),
  };
}
