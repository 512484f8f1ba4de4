// One miner behind one dialect. A dialect is data plus small functions
// (DialectSpec): which capabilities it has, how it reads, how it sends each
// write. The MinerDriver around it does what every write needs the same way:
// refuse what the dialect cannot do, take a reading before, send, then confirm
// by reading the state or power back, retrying with backoff, and say clearly
// why a write failed. An acknowledgement is never taken as the effect.
// The send-and-confirm loop is write.ts; read tiers (summary reads between
// full ones) are detail.ts; first contact's reply reuse is recent-replies.ts.
import { sharedCapabilities, shareReadingTexts } from "../shared.ts";
import type {
  Dialect,
  LocateReport,
  MinerCapability,
  MinerReading,
  MinerWriteOptions,
  OnSent,
} from "../types.ts";
import { DetailTiers, type TierOptions } from "./detail.ts";
import type { ExchangeOptions } from "./framing.ts";
import type { HttpReply } from "./http-client.ts";
import { DEFAULT_LOCATE_S, type LocateSpec, runLocate } from "./locate.ts";
import { type ModelLookup, powerLimitOutOfRange } from "./models.ts";
import { RecentReplies } from "./recent-replies.ts";
import { type ConfirmOptions, DEFAULT_CONFIRM, sendConfirmed, type WriteOutcome } from "./write.ts";

/** A firmware API the drivers speak: every dialect a config may name, less `auto`. */
export type DialectName = Exclude<Dialect, "auto">;

export interface MinerCredentials {
  username: string | null;
  password: string | null;
}

export interface MinerEndpoint {
  host: string;
  port: number;
  nominalW?: number | null;
  credentials?: MinerCredentials | null;
  /** Web/REST API port (stock Antminer CGI, VNish, AxeOS, Proto…); absent = the dialect's default. */
  webPort?: number;
  grpcPort?: number; // Braiins OS gRPC API (power target) port; default 50051
  /**
   * The models the site knows (config/models), looked up by the model the miner reports:
   * its nameplate for estimates, and its power-limit range (a limit outside it is refused
   * before it is sent).
   */
  models?: ModelLookup | null;
}

/** What a dialect's functions get: where the miner is and how to talk to it. */
export interface DialectContext {
  endpoint: MinerEndpoint;
  exchange: ExchangeOptions;
  signal?: AbortSignal;
  now: () => number;
  /**
   * Reads: false asks for the essentials only (state, hashrate, power, limits: what control
   * needs), true or absent for everything. A dialect that honours false returns its reading
   * with `detailAt: null`, and the driver fills the detail fields from the last full read; one
   * that cannot split its read ignores it (see MinerDriver.read).
   */
  detail?: boolean;
  /**
   * What the dialect keeps of this miner between reads (one object per driver): what a
   * summary-only read needs from the last full read (the model, the ideal hashrate…).
   */
  memo?: DialectMemo;
  /** First contact only: GET replies got moments ago, reused (recent-replies.ts). */
  recent?: RecentReplies<HttpReply> | undefined;
  /**
   * Writes: the dialect calls this as soon as the command itself has been
   * answered, before any clean-up exchange (LuxOS logoff), so the caller can
   * send the next command. The driver calls it again after the write and waits
   * for what it returns before reading back: in a fleet-wide shed the caller
   * holds read-backs until every command is out.
   */
  onSent?: OnSent;
}

/** A dialect's own notes on one miner, by the dialect's key (DialectContext.memo). */
export type DialectMemo = Record<string, unknown>;

/**
 * One write. `value`: the wattage of setPowerLimit; for locate, the seconds the
 * LED blinks (0 turns it off).
 */
export type WriteAction = MinerCapability;
/** The writes a dialect's `write` sends; `locate` goes through its `locate` spec. */
export type PowerWriteAction = Exclude<WriteAction, "locate">;

export interface DialectSpec {
  name: DialectName;
  /** Capabilities for this endpoint (some depend on credentials being configured). */
  capabilities(endpoint: MinerEndpoint): MinerCapability[];
  read(ctx: DialectContext): Promise<MinerReading>;
  /**
   * A lighter read for confirming a write (state, power, limit, uptime are
   * enough): a fleet-wide shed reads every miner back, so this is one short
   * exchange where the dialect allows. Default: read().
   */
  confirmRead?(ctx: DialectContext): Promise<MinerReading>;
  /** Sends one write; throws a DriverError when the miner refuses it. Confirmation is the driver's job. */
  write(ctx: DialectContext, action: PowerWriteAction, value?: number): Promise<void>;
  /**
   * How the firmware blinks its locate LED (locate.ts), where it can; a dialect that has it
   * declares the `locate` capability.
   */
  locate?: LocateSpec<DialectContext>;
  /** Releases sessions or tokens the dialect keeps (LuxOS logoff). */
  close?(ctx: DialectContext): Promise<void>;
  /**
   * A read-only touch of the write path at first contact (LuxOS logon/logoff,
   * the Antminer web CGI answering, `check|ascset`…): which of `declared` the
   * miner really offers. Returns the capabilities it does not, each with why.
   * Throws when the answer is not known yet (the miner did not answer): the
   * driver asks again at the next read.
   */
  confirmCapabilities?(ctx: DialectContext, declared: MinerCapability[]): Promise<Withdrawn[]>;
  /**
   * `dialect: auto` and `scan` for firmwares the CGMiner API does not name (an HTTP API, a
   * vendor's own port): a read-only request that tells this firmware from the others. Probes
   * are asked at once after the CGMiner JSON probe on the API port; the first in the
   * registry's order that recognises its firmware wins.
   */
  detectProbe?: DetectProbe;
}

/** One read-only detection probe of a dialect (see DialectSpec.detectProbe). */
export interface DetectProbe {
  /** The port the probe asks on (usually the endpoint's webPort, else the firmware's default). */
  port(endpoint: MinerEndpoint): number;
  /**
   * The firmware also keeps a CGMiner API that names no vendor (VNish on an Antminer): the probe
   * is asked after a plain CGMiner answer too. Others are asked only when the API port gave no
   * CGMiner answer, so a scan of stock miners does not pay for every firmware's probe.
   */
  behindPlainCgminer?: boolean;
  /** Evidence text when the host speaks this firmware (e.g. "GET /api/v1/info: VNish 1.2.6"), else null. Throws only on transport failure. */
  probe(ctx: DialectContext): Promise<string | null>;
}

/** A capability the dialect declares but the miner turned out not to offer. */
export interface Withdrawn {
  capability: MinerCapability;
  reason: string;
}

/** Withdrawn capabilities are asked again this often: a firmware update may bring them. */
export const RECONFIRM_WITHDRAWN_MS = 10 * 60_000;
/** A probe the miner did not answer is asked again after this long, not at every read. */
export const REPROBE_UNANSWERED_MS = 30_000;
const NONE_WITHDRAWN: readonly Withdrawn[] = Object.freeze([]);
const NO_EXCHANGE_OPTIONS: ExchangeOptions = Object.freeze({});

export class MinerDriver {
  readonly spec: DialectSpec;
  readonly endpoint: MinerEndpoint;
  /** What the dialect declares for this endpoint, before the miner confirms it. */
  readonly declared: readonly MinerCapability[];
  private effective: ReadonlySet<MinerCapability>;
  private withdrawnList: readonly Withdrawn[] = NONE_WITHDRAWN;
  /** When the capabilities were last confirmed; null = not yet (or to ask again after an outage). */
  private confirmedAt: number | null = null;
  private confirming: Promise<void> | null = null;
  /** When the last probe went unanswered (timeout, reset): the next waits REPROBE_UNANSWERED_MS. */
  private unansweredAt: number | null = null;
  /** The model the miner last reported, for the range check of a write without a reading. */
  private reportedModel: string | null = null;
  private readonly exchange: ExchangeOptions;
  private readonly confirm: ConfirmOptions;
  private readonly now: () => number;
  private readonly tiers: DetailTiers;
  private readonly memo: DialectMemo = {};
  /** Replies for the first read and the capability check it starts; null once taken. */
  private firstContact: RecentReplies<HttpReply> | null;
  /** The state of the last reading: a change is judged on a full read. */
  private lastState: MinerReading["state"] | null = null;

  constructor(
    spec: DialectSpec,
    endpoint: MinerEndpoint,
    opts: {
      exchange?: ExchangeOptions;
      confirm?: Partial<ConfirmOptions>;
      now?: () => number;
      /** Replies the detection probes got moments ago (first contact reuses them). */
      recent?: RecentReplies<HttpReply> | undefined;
    } & TierOptions = {},
  ) {
    this.spec = spec;
    this.endpoint = endpoint;
    // one list and set for every miner with the same ones (drivers/shared.ts)
    ({ list: this.declared, set: this.effective } = sharedCapabilities(spec.capabilities(endpoint)));
    this.exchange = opts.exchange ?? NO_EXCHANGE_OPTIONS;
    this.confirm = opts.confirm ? { ...DEFAULT_CONFIRM, ...opts.confirm } : DEFAULT_CONFIRM;
    this.now = opts.now ?? Date.now;
    this.tiers = new DetailTiers({ ...opts, now: this.now });
    this.firstContact = opts.recent ?? new RecentReplies(this.now);
  }

  /** What the miner can do: the dialect's declared capabilities less those it withdrew. */
  get capabilities(): ReadonlySet<MinerCapability> {
    return this.effective;
  }

  /** Declared capabilities the miner did not confirm, with why. */
  get withdrawn(): readonly Withdrawn[] {
    return this.withdrawnList;
  }

  describe(): { dialect: DialectName; capabilities: MinerCapability[]; withdrawn: Withdrawn[] } {
    return { dialect: this.spec.name, capabilities: [...this.effective], withdrawn: [...this.withdrawnList] };
  }

  private ctx(signal?: AbortSignal, detail = true, recent?: RecentReplies<HttpReply>): DialectContext {
    const { endpoint, exchange, now, memo } = this;
    return { endpoint, exchange, signal, now, detail, memo, recent };
  }

  /**
   * Never throws: failures come back as a state with a reason. The first read
   * that gets an answer also starts confirming the capabilities (again after an
   * outage, and every RECONFIRM_WITHDRAWN_MS while some are withdrawn). The
   * reading does not wait for it: a write does (see write()), and `confirmed()`
   * for whoever prints them.
   */
  async read(signal?: AbortSignal): Promise<MinerReading> {
    const detail = this.tiers.due();
    const recent = this.firstContact ?? undefined;
    this.firstContact = null;
    let reading = await this.spec.read(this.ctx(signal, detail, recent));
    if (
      reading.detailAt === null &&
      reading.state !== "unreachable" &&
      this.lastState !== null &&
      reading.state !== this.lastState
    ) {
      // a change of state is judged on a full read: the detail (pools, dead boards) may be why
      reading = await this.spec.read(this.ctx(signal, true));
    }
    // before the tiers keep it: what they keep is then the shared copy too
    reading = this.tiers.fill(shareReadingTexts(reading));
    this.lastState = reading.state;
    if (reading.model) this.reportedModel = reading.model;
    if (reading.state === "unreachable") {
      // it may come back with other firmware: ask again then
      this.confirmedAt = null;
      return reading;
    }
    if (this.confirmDue()) void this.confirmCapabilities(undefined, recent);
    return reading;
  }

  /** Resolves once a capability probe in flight (if any) has answered. */
  confirmed(): Promise<void> {
    return this.confirming ?? Promise.resolve();
  }

  private confirmDue(): boolean {
    if (!this.spec.confirmCapabilities || this.declared.length === 0 || this.confirming) return false;
    if (this.unansweredAt !== null && this.now() - this.unansweredAt < REPROBE_UNANSWERED_MS) return false;
    if (this.confirmedAt === null) return true;
    return this.withdrawnList.length > 0 && this.now() - this.confirmedAt >= RECONFIRM_WITHDRAWN_MS;
  }

  /** Asks the miner which declared capabilities it offers; concurrent callers share one probe. */
  confirmCapabilities(signal?: AbortSignal, recent?: RecentReplies<HttpReply>): Promise<void> {
    const probe = this.spec.confirmCapabilities;
    if (!probe || this.declared.length === 0) return Promise.resolve();
    this.confirming ??= probe(this.ctx(signal, true, recent), [...this.declared])
      .then((withdrawn) => {
        const known = withdrawn.filter((w) => this.declared.includes(w.capability));
        this.withdrawnList = known.length > 0 ? known : NONE_WITHDRAWN;
        const gone = new Set(known.map((w) => w.capability));
        this.effective = sharedCapabilities(this.declared.filter((c) => !gone.has(c))).set;
        this.confirmedAt = this.now();
        this.unansweredAt = null;
      })
      // not answered: unknown, asked again a little later; the declared set stands meanwhile
      .catch(() => {
        this.unansweredAt = this.now();
      })
      .finally(() => {
        this.confirming = null;
      });
    return this.confirming;
  }

  /**
   * Sends a write and confirms it by reading back; never throws. `given` is a
   * fresh reading the caller holds (the poller's latest): the effect is
   * confirmed against it instead of a read before the command, which puts the
   * command on the wire one round trip sooner — what an emergency shed of a
   * whole fleet is measured by.
   */
  async write(
    action: WriteAction,
    value?: number,
    { signal, before: given, onSent }: MinerWriteOptions = {},
  ): Promise<WriteOutcome> {
    // a first write before any read still learns what the miner really offers first
    if (this.confirming || this.confirmDue()) await this.confirmCapabilities(signal);
    const refused = (reason: string): WriteOutcome => {
      return { action, ok: false, reason, attempts: 0, before: null, after: null };
    };
    if (!this.effective.has(action)) {
      const gone = this.withdrawnList.find((w) => w.capability === action);
      return refused(
        gone
          ? `${action} not offered by this miner: ${gone.reason}`
          : `${this.spec.name} dialect cannot ${action}${
              this.endpoint.credentials?.password ? "" : " (no credentials configured)"
            }`,
      );
    }
    if (action === "locate") return this.locate(value, signal, onSent);
    if (action === "setPowerLimit" && (value === undefined || !(value > 0)))
      return refused("setPowerLimit needs a positive wattage");
    const before = given && given.state !== "unreachable" ? given : await this.read(signal);
    // a limit outside the model's range is never sent: firmware takes some silently and
    // clamps, or runs the boards out of their safe range
    const outOfRange = action === "setPowerLimit" ? this.outOfRange(value!, before) : null;
    if (outOfRange) return { action, ok: false, reason: outOfRange, attempts: 0, before, after: null };
    return sendConfirmed({
      action,
      value,
      before,
      send: async () => {
        await this.spec.write({ ...this.ctx(signal), onSent }, action, value);
        // the caller may hold the read-back while other commands still wait to go out
        await onSent?.();
      },
      readBack: () => (this.spec.confirmRead ? this.spec.confirmRead(this.ctx(signal)) : this.read(signal)),
      confirm: this.confirm,
      now: this.now,
      signal,
    });
  }

  /**
   * Locate on for `seconds` (> 0; none: DEFAULT_LOCATE_S) or off (0), confirmed as far as the
   * firmware allows (locate.ts); the capability is checked by write() first.
   */
  private async locate(
    seconds: number | undefined,
    signal?: AbortSignal,
    onSent?: OnSent,
  ): Promise<WriteOutcome> {
    const spec = this.spec.locate;
    const out = (
      { ok, reason, attempts }: { ok: boolean; reason: string; attempts: number },
      locate: LocateReport | null = null,
    ) => ({
      action: "locate" as const,
      ok,
      reason,
      attempts,
      before: null,
      after: null,
      locate,
    });
    if (!spec) return out({ ok: false, reason: `${this.spec.name} dialect has no locate`, attempts: 0 });
    const r = await runLocate(spec, this.ctx(signal), {
      seconds: seconds ?? DEFAULT_LOCATE_S,
      retries: this.confirm.retries,
      confirmTimeoutMs: this.confirm.confirmTimeoutMs,
      pollMs: this.confirm.pollMs,
      now: this.now,
      signal,
      onSent,
    });
    return out(r, r.report);
  }

  /** Why `watts` is outside the range of the model the miner reports (null: inside, or unknown). */
  private outOfRange(watts: number, before: MinerReading): string | null {
    const model = this.endpoint.models?.find(before.model ?? this.reportedModel);
    return model ? powerLimitOutOfRange(model, watts) : null;
  }

  sleep(signal?: AbortSignal) {
    return this.write("sleep", undefined, { signal });
  }
  wake(signal?: AbortSignal) {
    return this.write("wake", undefined, { signal });
  }
  setPowerLimit(watts: number, signal?: AbortSignal) {
    return this.write("setPowerLimit", watts, { signal });
  }
  reboot(signal?: AbortSignal) {
    return this.write("reboot", undefined, { signal });
  }

  async close(): Promise<void> {
    // a probe in flight (a LuxOS logon) finishes and logs off before the dialect closes
    await this.confirmed();
    await this.spec.close?.(this.ctx());
  }
}
