// The intents operators and remote systems hand the site — a budget lease, the
// control mode, an action on one device — whoever asked (the page, a signed
// MQTT command, an export, the agent itself): each is kept where it must
// survive a restart (settings), reported once as an event, audited with who
// asked, and acts through the control loop (woken at once), never a driver.
import type { SiteConfig } from "../../config/schema.ts";
import { formatPowerW } from "../../config/units.ts";
import { runDeviceAction } from "../control/device-actions.ts";
import { type Actor, type DeviceAction, type IntentResult, locateSeconds } from "../control/intents.ts";
import type { ControlLoop, ControlMode } from "../control/loop.ts";
import type { BudgetLease, LeaseRequest } from "../control/types.ts";
import type { LocateEnds } from "../devices/locate-ends.ts";
import type { SiteAudit } from "./audit.ts";
import type { SiteEvents } from "./event-bus.ts";
import type { SiteState } from "./state.ts";
import type { SiteStores } from "./stores.ts";

const LOCAL: Actor = { via: "local", who: "local" };

export interface IntentDeps {
  config: SiteConfig;
  state: SiteState;
  stores: SiteStores;
  events: SiteEvents;
  audit: SiteAudit;
  /** null while the site is not running. */
  loop(): ControlLoop | null;
  locates(): LocateEnds | null;
}

export class SiteIntents {
  /** The remote budget override in force (set through MQTT `budget/set`, or locally). */
  private lease: BudgetLease | null = null;

  constructor(private readonly d: IntentDeps) {}

  /** Takes the lease a previous run stored, while it is still in force. */
  restore(now: number = Date.now()): void {
    const stored = this.d.stores.settings?.lease;
    if (stored && stored.expiresAt > now) this.lease = stored;
  }

  /** The lease in force, if any (expired ones are not in force). */
  get budgetLease(): BudgetLease | null {
    return this.lease && this.lease.expiresAt > Date.now() ? this.lease : null;
  }

  /** The lease as the loop's budget input (the loop judges its expiry on its own clock). */
  get leaseInput(): BudgetLease | null {
    return this.lease;
  }

  get mode(): ControlMode {
    return this.d.loop()?.mode ?? "auto";
  }

  /**
   * Sets a budget lease: a cap that ends by itself after `ttlS` (the site falls
   * back to its other sources, never to "no limit"). Wakes the loop at once.
   */
  setBudgetLease({ watts, ttlS, reason }: LeaseRequest, actor: Actor = LOCAL, now = Date.now()): BudgetLease {
    if (!(watts >= 0) || !(ttlS > 0)) throw new RangeError("a lease needs watts ≥ 0 and ttlS > 0");
    const lease: BudgetLease = { watts, expiresAt: now + ttlS * 1000, reason };
    this.lease = lease;
    this.d.stores.settings?.setLease(lease, actor.who, now);
    this.d.audit.intent(actor, { action: "budget/set", body: { watts, ttlS, reason } }, { ok: true });
    this.d.events.emit({
      at: now,
      kind: "lease-set",
      severity: "info",
      message: `budget lease ${formatPowerW(watts)} for ${ttlS} s by ${actor.who}: ${reason}`,
      data: { watts, ttlS, reason, by: actor.who, via: actor.via },
    });
    this.d.loop()?.wakeNow();
    return lease;
  }

  clearBudgetLease(actor: Actor = LOCAL): void {
    const had = this.budgetLease !== null;
    this.lease = null;
    this.d.stores.settings?.setLease(null, actor.who);
    const detail = had ? "cleared" : "no lease";
    this.d.audit.intent(actor, { action: "budget/clear", body: {} }, { ok: true, detail });
    if (had) {
      this.d.events.emit({
        at: Date.now(),
        kind: "lease-cleared",
        severity: "info",
        message: `budget lease cleared by ${actor.who}`,
        data: { by: actor.who, via: actor.via },
      });
    }
    this.d.loop()?.wakeNow();
  }

  /** auto: the loop acts; hold: it plans and reports but sends nothing. Kept across restarts. */
  setMode(mode: ControlMode, actor: Actor = LOCAL): IntentResult {
    const was = this.mode;
    const loop = this.d.loop();
    this.d.stores.settings?.setMode(mode, actor.who);
    loop?.setMode(mode);
    if (was !== mode) {
      this.d.events.emit({
        at: Date.now(),
        kind: "mode-changed",
        severity: mode === "hold" ? "warning" : "info",
        message: `control mode ${mode} (was ${was}) by ${actor.who}`,
        data: { mode, was, by: actor.who, via: actor.via },
      });
    }
    loop?.wakeNow();
    return this.d.audit.intent(actor, { action: "mode/set", body: { mode } }, { ok: true });
  }

  /**
   * An operator's action on one device, through the control loop (ledger
   * first, confirmed by read-back). exclude/include take the device out of or
   * back into automatic control, kept across restarts.
   */
  async deviceAction(req: DeviceAction, actor: Actor): Promise<IntentResult> {
    const { config, state, stores, events } = this.d;
    const r = await runDeviceAction(req, actor, {
      config,
      state,
      settings: stores.settings,
      loop: this.d.loop(),
      ledger: stores.ledger,
      locates: this.d.locates(),
      emitEvent: (e) => events.emit(e),
    }).catch(
      (err: unknown): IntentResult => ({
        ok: false,
        error: err instanceof Error ? err.message : String(err),
      }),
    );
    if (req.action === "locate") {
      const seconds = locateSeconds(req);
      events.emit({
        at: Date.now(),
        kind: r.ok ? "operator-action" : "operator-action-failed",
        severity: r.ok ? "info" : "warning",
        deviceId: req.id,
        message: `locate ${seconds > 0 ? `${seconds} s` : "off"} ${req.id} by ${actor.who}: ${r.ok ? r.detail || "done" : r.error}`,
        data: { action: req.action, seconds, by: actor.who, via: actor.via },
      });
    } else if (req.action !== "exclude" && req.action !== "include") {
      events.emit({
        at: Date.now(),
        kind: r.ok ? "operator-action" : "operator-action-failed",
        severity: r.ok ? "info" : "warning",
        deviceId: req.id,
        message: `${req.action}${req.value !== undefined ? ` ${formatPowerW(req.value)}` : ""} ${req.id} by ${actor.who}: ${r.ok ? "done" : r.error}`,
        data: { action: req.action, value: req.value ?? null, by: actor.who, via: actor.via },
      });
    }
    return this.d.audit.intent(actor, { action: "device/action", body: req }, r);
  }
}
