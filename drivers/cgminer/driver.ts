// One miner behind one dialect. A dialect is data plus small functions
// (DialectSpec): which capabilities it has, how it reads, how it sends each
// write. The MinerDriver around it does what every write needs the same way:
// refuse what the dialect cannot do, take a reading before, send, then confirm
// by reading the state or power back, retrying with backoff, and say clearly
// why a write failed. An acknowledgement is never taken as the effect.
// The send-and-confirm loop is write.ts; read tiers (summary reads between
// full ones) are detail.ts; first contact's reply reuse is recent-replies.ts.
import { sharedCapabilities, shareReadingTexts } from "../shared.ts";
import type { LocateReport, MinerCapability, MinerReading, MinerWriteOptions, OnSent } from "../types.ts";
import { DetailTiers, type TierOptions } from "./detail.ts";
import {
  type DialectContext,
  type DialectMemo,
  type DialectName,
  type DialectSpec,
  type MinerEndpoint,
  type PowerWriteAction,
  RECONFIRM_WITHDRAWN_MS,
  REPROBE_UNANSWERED_MS,
  type Withdrawn,
  type WriteAction,
} from "./dialect-spec.ts";
import type { ExchangeOptions } from "./framing.ts";
import type { HttpReply } from "./http-client.ts";
import { DEFAULT_LOCATE_S, runLocate } from "./locate.ts";
import { powerLimitOutOfRange } from "./models.ts";
import { RecentReplies } from "./recent-replies.ts";
import {
  type ConfirmedWrite,
  type ConfirmOptions,
  DEFAULT_CONFIRM,
  type StartedWrite,
  sendConfirmed,
  startWithFollowUp,
  type WriteOutcome,
} from "./write.ts";

function refusedWrite(action: WriteAction, reason: string): WriteOutcome {
  return { action, ok: false, reason, attempts: 0, before: null, after: null };
}

export type {
  DetectProbe,
  DialectContext,
  DialectMemo,
  DialectName,
  DialectSpec,
  MinerCredentials,
  MinerEndpoint,
  PowerWriteAction,
  Withdrawn,
  WriteAction,
} from "./dialect-spec.ts";
export { RECONFIRM_WITHDRAWN_MS, REPROBE_UNANSWERED_MS } from "./dialect-spec.ts";

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
    if (action === "locate") return this.locateChecked(value, signal, onSent);
    const ready = await this.prepareWrite(action, value, signal, given);
    if ("outcome" in ready) return ready.outcome;
    return sendConfirmed({
      ...this.confirmedWrite(action, value, ready.before, signal),
      send: async () => {
        await this.spec.write({ ...this.ctx(signal), onSent }, action, value);
        // the caller may hold the read-back while other commands still wait to go out
        await onSent?.();
      },
    });
  }

  /**
   * write() in two phases (write.ts startWithFollowUp): resolves once the command is out,
   * with what confirms it to call later. What the dialect does after its command (a LuxOS
   * logoff) waits until confirm() is called or the signal aborts. A locate runs whole.
   */
  async start(
    action: WriteAction,
    value?: number,
    { signal, before: given }: Omit<MinerWriteOptions, "onSent"> = {},
  ): Promise<StartedWrite> {
    if (action === "locate") return { outcome: await this.locateChecked(value, signal, undefined) };
    const ready = await this.prepareWrite(action, value, signal, given);
    if ("outcome" in ready) return ready;
    return startWithFollowUp(this.confirmedWrite(action, value, ready.before, signal), (onSent) =>
      this.spec.write({ ...this.ctx(signal), onSent }, action, value),
    );
  }

  /** What every write checks before sending: capabilities, the value, the reading to judge it by. */
  private async prepareWrite(
    action: PowerWriteAction,
    value: number | undefined,
    signal: AbortSignal | undefined,
    given: MinerReading | null | undefined,
  ): Promise<{ outcome: WriteOutcome } | { before: MinerReading }> {
    // a first write before any read still learns what the miner really offers first
    if (this.confirming || this.confirmDue()) await this.confirmCapabilities(signal);
    const refused = this.refusal(action);
    if (refused) return { outcome: refused };
    if (action === "setPowerLimit" && (value === undefined || !(value > 0)))
      return { outcome: refusedWrite(action, "setPowerLimit needs a positive wattage") };
    const before = given && given.state !== "unreachable" ? given : await this.read(signal);
    // a limit outside the model's range is never sent: firmware takes some silently and
    // clamps, or runs the boards out of their safe range
    const outOfRange = action === "setPowerLimit" ? this.outOfRange(value!, before) : null;
    if (outOfRange)
      return { outcome: { action, ok: false, reason: outOfRange, attempts: 0, before, after: null } };
    return { before };
  }

  /** Why the miner cannot take `action` (not offered, no credentials), or null. */
  private refusal(action: WriteAction): WriteOutcome | null {
    if (this.effective.has(action)) return null;
    const gone = this.withdrawnList.find((w) => w.capability === action);
    return refusedWrite(
      action,
      gone
        ? `${action} not offered by this miner: ${gone.reason}`
        : `${this.spec.name} dialect cannot ${action}${
            this.endpoint.credentials?.password ? "" : " (no credentials configured)"
          }`,
    );
  }

  private confirmedWrite(
    action: WriteAction,
    value: number | undefined,
    before: MinerReading,
    signal: AbortSignal | undefined,
  ): Omit<ConfirmedWrite, "send"> {
    return {
      action,
      value,
      before,
      readBack: () => (this.spec.confirmRead ? this.spec.confirmRead(this.ctx(signal)) : this.read(signal)),
      confirm: this.confirm,
      now: this.now,
      signal,
    };
  }

  /** A locate, once the capability is checked (first contact included). */
  private async locateChecked(
    value: number | undefined,
    signal: AbortSignal | undefined,
    onSent: OnSent | undefined,
  ): Promise<WriteOutcome> {
    if (this.confirming || this.confirmDue()) await this.confirmCapabilities(signal);
    return this.refusal("locate") ?? this.locate(value, signal, onSent);
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
