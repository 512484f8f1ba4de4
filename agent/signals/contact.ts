// `signals.contact`: a dry contact (a utility's or QSE's relay) wired to a
// Modbus I/O module, read as a discrete input or a coil every pollS. Closed:
// the budget becomes activeBudgetW. A module that cannot be read for staleS
// follows onStale: release, hold the last state, or the failsafe budget.
import { ModbusConnection, type ModbusEndpoint } from "../../drivers/modbus/client.ts";
import type { Logger } from "../runtime/logger.ts";
import type { OnStale, SignalInput, SignalStatus } from "./types.ts";

export interface ContactOptions {
  name: string;
  endpoint: ModbusEndpoint;
  unitId: number;
  table: "discrete" | "coil";
  address: number;
  activeBudgetW: number;
  pollMs: number;
  staleS: number;
  onStale: OnStale;
  failsafeBudgetW: number;
  timeoutMs?: number;
  logger: Logger;
  /** The contact opened or closed. */
  onChange?: () => void;
  now?: () => number;
}

export class ContactSignal implements SignalInput {
  readonly kind = "contact" as const;
  readonly name: string;
  private conn: ModbusConnection | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closedContact: boolean | null = null;
  private readAt = 0;
  private lastError: string | null = null;
  private readonly startedAt: number;
  private readonly now: () => number;
  private last: SignalStatus;

  constructor(private readonly opts: ContactOptions) {
    this.name = opts.name;
    this.now = opts.now ?? Date.now;
    this.startedAt = this.now();
    this.last = {
      name: this.name,
      kind: "contact",
      state: "idle",
      budgetW: null,
      since: this.startedAt,
      reason: "not read yet",
    };
  }

  async start(): Promise<void> {
    const o = this.opts;
    this.conn = new ModbusConnection(o.endpoint, { timeoutMs: o.timeoutMs ?? 1000, gapMs: 0 });
    const poll = async () => {
      await this.readOnce();
      if (this.conn) this.timer = setTimeout(poll, o.pollMs);
    };
    await poll();
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const c = this.conn;
    this.conn = null;
    await c?.close();
  }

  /** One read of the contact (exposed for tests). */
  async readOnce(): Promise<void> {
    const c = this.conn;
    if (!c) return;
    try {
      const [bit] = await c.readBits(this.opts.unitId, {
        table: this.opts.table,
        address: this.opts.address,
        length: 1,
      });
      const closed = bit === true;
      if (this.closedContact !== null && closed !== this.closedContact) this.opts.onChange?.();
      this.closedContact = closed;
      this.readAt = this.now();
      this.lastError = null;
    } catch (err) {
      const why = (err as Error).message;
      if (why !== this.lastError) this.opts.logger.warn({ err: why }, "contact module unreadable");
      this.lastError = why;
    }
  }

  status(now: number): SignalStatus {
    const o = this.opts;
    const where = `${o.table === "discrete" ? "discrete input" : "coil"} ${o.address}`;
    let v: Pick<SignalStatus, "state" | "budgetW" | "reason">;
    // staleness on the exact age; whole seconds only for the words
    const fresh = now - (this.readAt || this.startedAt) <= o.staleS * 1000;
    const ageS = Math.round((now - (this.readAt || this.startedAt)) / 1000);
    if (this.closedContact !== null && fresh) {
      v = this.closedContact
        ? { state: "active", budgetW: o.activeBudgetW, reason: `contact closed (${where})` }
        : { state: "idle", budgetW: null, reason: `contact open (${where})` };
    } else if (fresh) {
      v = { state: "idle", budgetW: null, reason: "not read yet" };
    } else {
      const quiet = `module unreadable for ${ageS} s${this.lastError ? ` (${this.lastError})` : ""}`;
      v =
        o.onStale === "release"
          ? { state: "stale", budgetW: null, reason: `${quiet}: released` }
          : o.onStale === "failsafe"
            ? { state: "stale", budgetW: o.failsafeBudgetW, reason: `${quiet}: failsafe budget` }
            : {
                state: "stale",
                budgetW: this.closedContact ? o.activeBudgetW : null,
                reason: `${quiet}: holding the last state (${this.closedContact ? "closed" : "open"})`,
              };
    }
    const same = v.state === this.last.state && v.budgetW === this.last.budgetW;
    this.last = { ...this.last, ...v, since: same ? this.last.since : now };
    return this.last;
  }
}
