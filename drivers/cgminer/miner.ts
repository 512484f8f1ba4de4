// Builds the driver for one configured miner. A fixed dialect binds at once;
// `auto` detects on the first read that gets an answer and binds then (until
// it does, reads report the miner as unreachable with the reason). A detected
// dialect that is not registered falls back to stock cgminer reads.
import type { Dialect, MinerCapability, MinerReading, MinerWriteOptions } from "../types.ts";
import { readingForError } from "./client.ts";
import type { TierOptions } from "./detail.ts";
import { detectDialect } from "./detect.ts";
import { cgminerDialect } from "./dialects/cgminer/dialect.ts";
import { DIALECT_SPECS } from "./dialects/index.ts";
import {
  type DialectName,
  type DialectSpec,
  MinerDriver,
  type MinerEndpoint,
  type Withdrawn,
  type WriteAction,
} from "./driver.ts";
import type { ExchangeOptions } from "./framing.ts";
import type { ConfirmOptions, StartedWrite, WriteOutcome } from "./write.ts";

/** What an undetected miner can do: one set, so the planner's view sees the same one each tick. */
const NOT_DETECTED: ReadonlySet<MinerCapability> = new Set();

/** `detailEveryMs`: poll tiers (detail.ts TierOptions); none = every read is a full one. */
export interface MinerOptions extends TierOptions {
  exchange?: ExchangeOptions;
  confirm?: Partial<ConfirmOptions>;
  now?: () => number;
}

/** What the rest of the agent sees of a miner, whatever its dialect. */
export interface Miner {
  /** The bound dialect, or null while `auto` has not detected one yet. */
  readonly dialect: DialectName | null;
  readonly capabilities: ReadonlySet<MinerCapability>;
  /** Capabilities the dialect declares but the miner did not confirm at first contact, with why. */
  readonly withdrawn: readonly Withdrawn[];
  read(signal?: AbortSignal): Promise<MinerReading>;
  /** Resolves once the capability probe a read started (if any) has answered. */
  confirmed(): Promise<void>;
  /**
   * `before`: a fresh reading the caller already holds (the poller's), saving
   * a read before the command; the effect is confirmed against it.
   */
  write(action: WriteAction, value?: number, opts?: MinerWriteOptions): Promise<WriteOutcome>;
  /**
   * write() in two phases: resolves once the command is out, with confirm() to call for the
   * rest (driver.ts start). Nothing waits in between: the caller holds a function, not a call.
   */
  start(action: WriteAction, value?: number, opts?: MinerStartOptions): Promise<StartedWrite>;
  close(): Promise<void>;
}

export type MinerStartOptions = Omit<MinerWriteOptions, "onSent">;

function specFor(name: DialectName): DialectSpec {
  return DIALECT_SPECS[name] ?? cgminerDialect;
}

class BoundMiner implements Miner {
  constructor(readonly driver: MinerDriver) {}
  get dialect() {
    return this.driver.spec.name;
  }
  get capabilities() {
    return this.driver.capabilities;
  }
  get withdrawn() {
    return this.driver.withdrawn;
  }
  confirmed() {
    return this.driver.confirmed();
  }
  read(signal?: AbortSignal) {
    return this.driver.read(signal);
  }
  write(...args: Parameters<Miner["write"]>) {
    return this.driver.write(...args);
  }
  start(...args: Parameters<Miner["start"]>) {
    return this.driver.start(...args);
  }
  close() {
    return this.driver.close();
  }
}

class DetectingMiner implements Miner {
  private bound: MinerDriver | null = null;
  private detecting: Promise<MinerDriver | null> | null = null;

  constructor(
    private readonly endpoint: MinerEndpoint,
    private readonly opts: MinerOptions,
  ) {}

  get dialect() {
    return this.bound?.spec.name ?? null;
  }
  get capabilities(): ReadonlySet<MinerCapability> {
    return this.bound?.capabilities ?? NOT_DETECTED;
  }
  get withdrawn(): readonly Withdrawn[] {
    return this.bound?.withdrawn ?? [];
  }
  confirmed(): Promise<void> {
    return this.bound?.confirmed() ?? Promise.resolve();
  }

  private bind(signal?: AbortSignal): Promise<MinerDriver | null> {
    if (this.bound) return Promise.resolve(this.bound);
    // concurrent callers share one detection
    this.detecting ??= detectDialect(this.endpoint, this.opts.exchange, signal)
      .then((d) => {
        this.bound = new MinerDriver(specFor(d.dialect), this.endpoint, { ...this.opts, recent: d.replies });
        return this.bound;
      })
      .finally(() => {
        this.detecting = null;
      });
    return this.detecting;
  }

  read(signal?: AbortSignal): Promise<MinerReading> {
    // once bound, the driver's read as it is (it never throws): no async frame per poll around it
    if (this.bound) return this.bound.read(signal);
    return this.readBinding(signal);
  }

  private async readBinding(signal?: AbortSignal): Promise<MinerReading> {
    try {
      const driver = await this.bind(signal);
      if (driver) return await driver.read(signal);
    } catch (err) {
      return readingForError(err, (this.opts.now ?? Date.now)());
    }
    return readingForError(new Error("dialect detection failed"), (this.opts.now ?? Date.now)());
  }

  async write(action: WriteAction, value?: number, opts: MinerWriteOptions = {}): Promise<WriteOutcome> {
    const driver = await this.bindForWrite(action, opts.signal);
    return driver instanceof MinerDriver ? driver.write(action, value, opts) : driver;
  }

  async start(action: WriteAction, value?: number, opts: MinerStartOptions = {}): Promise<StartedWrite> {
    const driver = await this.bindForWrite(action, opts.signal);
    return driver instanceof MinerDriver ? driver.start(action, value, opts) : { outcome: driver };
  }

  /** The bound driver, or the write's outcome when the dialect is not known. */
  private async bindForWrite(action: WriteAction, signal?: AbortSignal): Promise<MinerDriver | WriteOutcome> {
    try {
      const driver = await this.bind(signal);
      if (driver) return driver;
      return { action, ok: false, reason: "dialect not detected", attempts: 0, before: null, after: null };
    } catch (err) {
      const reason = `dialect not detected yet: ${(err as Error).message}`;
      return { action, ok: false, reason, attempts: 0, before: null, after: null };
    }
  }

  async close() {
    await this.bound?.close();
  }
}

export function createMiner(endpoint: MinerEndpoint, dialect: Dialect, opts: MinerOptions = {}): Miner {
  if (dialect === "auto") return new DetectingMiner(endpoint, opts);
  return new BoundMiner(new MinerDriver(specFor(dialect), endpoint, opts));
}
