// The simulated site's physics: every miner's state and draw, other loads, and
// the meters' view of them. Protocol servers (sim/cgminer, sim/modbus) only read
// from here, so sleeping a miner through any path lowers what every meter reads.
// Time comes from an injectable clock and randomness from seeded streams, so a
// test can step through `starting` deterministically and a run can be replayed.
import { LocateLeds } from "./leds.ts";
import {
  closeWork,
  drawFor,
  type Hashboards,
  type MinerRecord,
  type MinerState,
  type MinerView,
  newMinerRecord,
  sampleThs,
  viewOf,
} from "./miner-unit.ts";
import { DEFAULT_MODEL_KEYS, getMinerModel } from "./models.ts";
import { hashSeed, mulberry32, symmetric } from "./prng.ts";

export type { Hashboards, MinerState, MinerView } from "./miner-unit.ts";

export type LoadClass = "mining" | "ai" | "aux";
export type MeterRole = "site" | LoadClass;

export interface PowerModelOptions {
  seed?: number | null;
  /** Amplitude (W) of the uniform noise added to each meter reading; 0 = exact. */
  noiseW?: number | null;
  /** Constant auxiliary load: cooling, lights, network. */
  auxW?: number | null;
  /** How long a woken (or rebooted) miner stays `starting` before `hashing`. */
  wakeDelayMs?: number | null;
  /** Model keys assigned round-robin to miners added without one. */
  models?: readonly string[] | null;
  now?: () => number;
}

export type StateListener = (id: string, state: MinerState, prev: MinerState) => void;

interface Load {
  name: string;
  cls: LoadClass;
  watts: () => number;
}

const MS_PER_H = 3_600_000;

export class PowerModel {
  readonly seed: number;
  noiseW: number;
  auxW: number;
  wakeDelayMs: number;
  /** The model's clock (ms); servers use it for `When` so tests see one time. */
  readonly now: () => number;
  /** The miners' locate LEDs (sim/leds.ts): each firmware's server sets and encodes them. */
  readonly leds: LocateLeds;
  private readonly modelKeys: readonly string[];
  private readonly miners = new Map<string, MinerRecord>();
  private readonly loads = new Map<string, Load>();
  private readonly listeners = new Set<StateListener>();
  private readonly noiseRand: () => number;
  /** Miners in `starting`, resolved lazily against the clock (no timers: the fake clock drives them). */
  private pending: MinerRecord[] = [];
  private minersDrawW = 0;
  private lastT: number;
  private readonly energyKwhByClass: Record<LoadClass, number> = { mining: 0, ai: 0, aux: 0 };
  /** Generation behind the site meter (W at an instant); null = none. */
  private generation: ((now: number) => number) | null = null;
  /** What the site meter's import register counts: net draw while importing (it never runs backwards). */
  private importedKwh = 0;

  constructor(opts: PowerModelOptions = {}) {
    this.seed = (opts.seed ?? 1) >>> 0;
    this.noiseW = opts.noiseW ?? 0;
    this.auxW = opts.auxW ?? 0;
    this.wakeDelayMs = opts.wakeDelayMs ?? 0;
    this.now = opts.now ?? Date.now;
    this.leds = new LocateLeds(this.now);
    this.modelKeys = opts.models && opts.models.length > 0 ? opts.models : DEFAULT_MODEL_KEYS;
    for (const k of this.modelKeys) getMinerModel(k);
    this.noiseRand = mulberry32(hashSeed(this.seed, "\u0000meter-noise"));
    this.lastT = this.now();
  }

  /** Adds a miner (hashing, booted a seeded while ago). Without a model key: round-robin over `models`. */
  addMiner(id: string, modelKey?: string): MinerView {
    if (this.miners.has(id)) throw new Error(`miner "${id}" already exists`);
    const model = getMinerModel(modelKey ?? this.modelKeys[this.miners.size % this.modelKeys.length]!);
    const now = this.now();
    const rec = newMinerRecord(id, model, { seed: this.seed, now: now });
    this.advance(now);
    this.miners.set(id, rec);
    this.minersDrawW += rec.drawW;
    return viewOf(rec, now);
  }

  hasMiner(id: string): boolean {
    return this.miners.has(id);
  }

  minerIds(): string[] {
    return [...this.miners.keys()];
  }

  state(id: string): MinerState {
    this.refresh();
    return this.get(id).state;
  }

  /** Sleeps a hashing or starting miner. Returns false when there was nothing to do (asleep, faulted). */
  sleep(id: string): boolean {
    this.refresh();
    const m = this.get(id);
    if (m.state === "sleeping" || m.state === "faulted") return false;
    this.transition(m, "sleeping");
    return true;
  }

  /** Wakes a sleeping miner: `starting` for wakeDelayMs, then `hashing`. */
  wake(id: string): boolean {
    this.refresh();
    const m = this.get(id);
    if (m.state !== "sleeping") return false;
    this.startUp(m);
    return true;
  }

  /** A faulted miner draws standby power and refuses API connections; clearing it reboots the unit. */
  setFaulted(id: string, on: boolean): boolean {
    this.refresh();
    const m = this.get(id);
    if (on) {
      if (m.state === "faulted") return false;
      m.asleepBeforeFault = m.state === "sleeping";
      this.transition(m, "faulted");
      return true;
    }
    if (m.state !== "faulted") return false;
    // the unit boots with its LED back under the firmware's control
    this.leds.reset(id);
    m.bootAt = this.now();
    m.workTh = 0;
    if (m.asleepBeforeFault) this.transition(m, "sleeping");
    else this.startUp(m);
    return true;
  }

  /**
   * Sets (or clears, with null) a power target. While hashing the unit draws at
   * most the target and its hashrate falls a little less than its power (chips
   * are more efficient at lower voltage), as autotuning firmware behaves.
   */
  setPowerLimit(id: string, watts: number | null): void {
    this.refresh();
    const m = this.get(id);
    if (m.state === "hashing") closeWork(m, this.now());
    m.powerLimitW = watts;
    this.redraw(m);
  }

  /** Disables (or kills, or removes) a miner's hashboards, or brings them back ("ok"). */
  setHashboards(id: string, boards: Hashboards): void {
    this.refresh();
    const m = this.get(id);
    if (m.state === "hashing") closeWork(m, this.now());
    m.hashboards = boards;
    this.redraw(m);
  }

  /** Kills (or revives) one chain (0-based) while the others hash on: a dead hashboard. */
  setChainDead(id: string, chain: number, dead: boolean): void {
    this.refresh();
    const m = this.get(id);
    if (!Number.isInteger(chain) || chain < 0 || chain >= m.model.chains)
      throw new Error(`miner "${id}" has no chain ${chain} (${m.model.chains} chains)`);
    if (m.state === "hashing") closeWork(m, this.now());
    if (dead) m.deadChains.add(chain);
    else m.deadChains.delete(chain);
    this.redraw(m);
  }

  /** Adds degrees to a miner's boards and chips (0 = back to normal). */
  setExtraTemp(id: string, degreesC: number): void {
    this.refresh();
    this.get(id).extraTempC = degreesC;
  }

  /** Current draw of one miner (W, no noise: the meter adds noise, not the miner). */
  powerW(id: string): number {
    this.refresh();
    return this.get(id).drawW;
  }

  /** Short-average hashrate with seeded jitter around this unit's nominal; 0 unless hashing. */
  hashrateThs(id: string): number {
    this.refresh();
    const m = this.get(id);
    return sampleThs(m);
  }

  /** One consistent sample of a miner for a protocol reply. */
  minerView(id: string): MinerView {
    this.refresh();
    return viewOf(this.get(id), this.now());
  }

  countByState(): Record<MinerState, number> {
    this.refresh();
    const c: Record<MinerState, number> = { hashing: 0, sleeping: 0, starting: 0, faulted: 0 };
    for (const m of this.miners.values()) c[m.state]++;
    return c;
  }

  /**
   * Couples another power source (GPU nodes, chillers) into the meters. `watts` is
   * sampled at read time. Returns a function that removes the load again.
   */
  addLoad(name: string, watts: () => number, cls: LoadClass = "ai"): () => void {
    this.refresh();
    if (this.loads.has(name)) throw new Error(`load "${name}" already exists`);
    this.loads.set(name, { name, cls, watts });
    return () => {
      this.refresh();
      this.loads.delete(name);
    };
  }

  onStateChange(listener: StateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  minersW(): number {
    this.refresh();
    return this.minersDrawW;
  }

  /** True draw of one load class (no noise). */
  classW(cls: LoadClass): number {
    this.refresh();
    return this.classWNow(cls);
  }

  /** True site total: miners + auxW + every added load, less generation behind the meter (negative = export). */
  totalW(): number {
    this.refresh();
    return this.classWNow("mining") + this.classWNow("ai") + this.classWNow("aux") - this.generationWNow();
  }

  /** Sets (or removes) generation behind the site meter: solar, wind, a flare-gas genset. */
  setGeneration(watts: ((now: number) => number) | null): void {
    this.refresh();
    this.generation = watts;
  }

  /** What the generation behind the meter produces now (W). */
  generationW(): number {
    this.refresh();
    return this.generationWNow();
  }

  private generationWNow(): number {
    return this.generation ? Math.max(0, this.generation(this.now())) : 0;
  }

  /** What a meter in `role` reads now: the true value plus seeded noise drawn at read time. */
  meterW(role: MeterRole): number {
    const trueW = role === "site" ? this.totalW() : this.classW(role);
    return trueW + this.noise(this.noiseW);
  }

  /** Seeded uniform noise in [-amplitude, amplitude) from the meter stream. */
  noise(amplitude: number): number {
    return amplitude > 0 ? symmetric(this.noiseRand) * amplitude : 0;
  }

  /** Energy (kWh) a meter in `role` has counted since the model was created (the site: imported only). */
  energyKwh(role: MeterRole): number {
    this.refresh();
    const e = this.energyKwhByClass;
    return role === "site" ? this.importedKwh : e[role];
  }

  // --- internals -----------------------------------------------------------

  private get(id: string): MinerRecord {
    const m = this.miners.get(id);
    if (!m) throw new Error(`unknown miner "${id}"`);
    return m;
  }

  private classWNow(cls: LoadClass): number {
    let w = cls === "mining" ? this.minersDrawW : cls === "aux" ? this.auxW : 0;
    for (const l of this.loads.values()) if (l.cls === cls) w += l.watts();
    return w;
  }

  /** Re-evaluates a miner's draw in its current state (after a power target changes). */
  private redraw(m: MinerRecord): void {
    this.advance(this.now());
    const w = drawFor(m, m.state);
    this.minersDrawW += w - m.drawW;
    m.drawW = w;
  }

  private startUp(m: MinerRecord): void {
    if (this.wakeDelayMs <= 0) {
      this.transition(m, "hashing");
      return;
    }
    m.startingUntil = this.now() + this.wakeDelayMs;
    this.transition(m, "starting");
    this.pending.push(m);
  }

  private transition(m: MinerRecord, to: MinerState, at = this.now()): void {
    const prev = m.state;
    if (prev === to) return;
    this.advance(at);
    if (prev === "hashing") closeWork(m, at);
    m.workSince = at;
    if (prev === "starting") this.pending = this.pending.filter((p) => p !== m);
    m.state = to;
    this.minersDrawW += drawFor(m, to) - m.drawW;
    m.drawW = drawFor(m, to);
    for (const l of this.listeners) l(m.id, to, prev);
  }

  /** Resolves due `starting → hashing` transitions in time order, then integrates energy up to now. */
  private refresh(): void {
    const now = this.now();
    while (this.pending.length > 0) {
      let next: MinerRecord | undefined;
      for (const p of this.pending) if (!next || p.startingUntil < next.startingUntil) next = p;
      if (!next || next.startingUntil > now) break;
      this.transition(next, "hashing", next.startingUntil);
    }
    this.advance(now);
  }

  private advance(t: number): void {
    const dt = t - this.lastT;
    if (dt <= 0) return;
    for (const cls of ["mining", "ai", "aux"] as const) {
      this.energyKwhByClass[cls] += (this.classWNow(cls) * dt) / MS_PER_H / 1000;
    }
    const netW =
      this.classWNow("mining") + this.classWNow("ai") + this.classWNow("aux") - this.generationWNow();
    this.importedKwh += (Math.max(0, netW) * dt) / MS_PER_H / 1000;
    this.lastT = t;
  }
}
