// The site as its channels show it: `/api/site` and the site half of the MQTT
// state, `/api/devices`, one device in full for the detail page, what the
// agent holds curtailed, and what the Modbus setpoint server reports back to
// the RTU. Read-only: built from the snapshot, the ledger, the settings and
// the loop's last tick, never by asking a device.
import type { SiteConfig } from "../../config/schema.ts";
import type { Miner } from "../../drivers/cgminer/miner.ts";
import { CONTRACT_REASON } from "../control/budget.ts";
import type { ControlLoop } from "../control/loop.ts";
import { isFlexible } from "../control/policy.ts";
import type { TickTimes } from "../control/tick-times.ts";
import type { BudgetLease } from "../control/types.ts";
import { buildDeviceDetail } from "../devices/detail.ts";
import type { DeviceHistory } from "../devices/history.ts";
import { modelsOf } from "../devices/models.ts";
import type { OutageWatch } from "../devices/outages.ts";
import type { DeviceDetail, DevicesView, SiteView } from "../http/types.ts";
import type { GatewayHealth } from "../runtime/host-health.ts";
import type { SignalStatus, SiteReadback } from "../signals/types.ts";
import { deviceRow, devicesView, problemDevicesView } from "./device-rows.ts";
import type { SiteEvents } from "./event-bus.ts";
import { capabilityList, planView } from "./plan-view.ts";
import type { SiteSnapshot, SiteState } from "./state.ts";
import type { SiteStores } from "./stores.ts";
import type { BrokerStatus } from "./tick.ts";

export interface ViewDeps {
  config: SiteConfig;
  state: SiteState;
  stores: SiteStores;
  events: SiteEvents;
  version: string | null;
  startedAt: number;
  tickTimes: TickTimes;
  outages: OutageWatch;
  deviceHistory: DeviceHistory;
  loop(): ControlLoop | null;
  /** One driver per configured miner, by id. */
  miners(): ReadonlyMap<string, Miner>;
  /** The lease in force. */
  lease(): BudgetLease | null;
  signals(): SignalStatus[];
  broker(): BrokerStatus | null;
  gateway(): GatewayHealth | null;
  /** When the site's clock last beat (0 before the first). */
  lastTickAt(): number;
  unhealthyReason(now: number): string | null;
}

/** What the agent holds curtailed (MQTT `state`). */
export interface Curtailment {
  curtailed: Array<{ id: string; how: "sleep" | "power-limit"; since: string }>;
  aiCaps: Array<{ id: string; gpu: number; originalW: number; since: string }>;
}

export class SiteViews {
  constructor(private readonly d: ViewDeps) {}

  /** A fresh snapshot (cheap: one pass over the latest readings). */
  snapshot(now: number = Date.now()): SiteSnapshot {
    return this.d.state.snapshot(now, (id) => this.d.stores.isExcluded(id));
  }

  /** `GET /api/site`. */
  site(): SiteView {
    const { config, loop } = this.d;
    const snap = this.snapshot();
    const last = loop()?.last ?? null;
    const lease = this.d.lease();
    const lastTickAt = this.d.lastTickAt();
    return {
      siteId: snap.siteId,
      at: new Date(snap.at).toISOString(),
      powerW: snap.powerW,
      powerSource: snap.powerSource,
      budgetW: last?.budget?.budgetW ?? config.site.contractLimitW,
      budgetReason: last?.budget?.reason ?? CONTRACT_REASON,
      tickAgeS: lastTickAt > 0 ? Math.round(Date.now() - lastTickAt) / 1000 : null,
      budgetSource: last?.budget?.source ?? "contract",
      alarms: (last?.plan?.alarms ?? []).map((a) => a.code),
      lease: lease ? { ...lease, expiresAt: new Date(lease.expiresAt).toISOString() } : null,
      mode: loop()?.mode ?? null,
      classes: snap.classes,
      counts: snap.counts,
      hashrateThs: snap.hashrateThs,
      meter: snap.meter,
      signals: this.d.signals().map(signalJson),
      broker: this.d.broker(),
      gateway: this.d.gateway(),
      control: this.controlStats(),
      startedAt: new Date(this.d.startedAt).toISOString(),
      version: this.d.version,
    };
  }

  /** `GET /api/devices`. */
  devices(): DevicesView {
    return devicesView(this.d.state, {
      isExcluded: (id) => this.d.stores.isExcluded(id),
      driverOf: (id) => this.driverView(id),
    });
  }

  /** The devices as the problems list judges them (the miners lean, one at a time). */
  problemDevices(): ReturnType<typeof problemDevicesView> {
    const miners = this.d.miners();
    return problemDevicesView(this.d.state, {
      isExcluded: (id) => this.d.stores.isExcluded(id),
      driverOf: (id) => {
        const m = miners.get(id);
        return m
          ? { dialect: m.dialect, capabilities: capabilityList(m.capabilities), withdrawn: m.withdrawn }
          : null;
      },
    });
  }

  /** One device in full for the detail page; null for an unknown id. */
  deviceDetail(id: string, now: number = Date.now()): DeviceDetail | null {
    const { state, stores } = this.d;
    const device = deviceRow(state, id, {
      now,
      isExcluded: (x) => stores.isExcluded(x, now),
      driverOf: (x) => this.driverView(x),
    });
    if (!device) return null;
    const reported = device.kind === "miner" ? (state.miners.get(id)?.reading?.model ?? null) : null;
    return buildDeviceDetail({
      device,
      model: modelsOf(this.d.config).find(reported),
      exclusion: stores.settings?.exclusion(id) ?? null,
      ledger: stores.ledger?.forDevice(id, 20) ?? [],
      events: this.d.events.forDevice(id, 30),
      history: this.d.deviceHistory.of(id),
      historyEveryMs: this.d.deviceHistory.everyMs,
      outageSince: this.d.outages.sinceOf(id),
      now,
    });
  }

  /** What the agent holds curtailed, from the ledger: miners it slept or power-limited, GPUs it capped. */
  curtailment(now: number = Date.now()): Curtailment {
    const out: Curtailment = { curtailed: [], aiCaps: [] };
    const ledger = this.d.stores.ledger;
    if (!ledger) return out;
    for (const [id, d] of ledger.view(now).devices) {
      if (d.sleptAt != null)
        out.curtailed.push({ id, how: "sleep", since: new Date(d.sleptAt).toISOString() });
      else if (d.powerLimit) {
        out.curtailed.push({ id, how: "power-limit", since: new Date(d.powerLimit.at).toISOString() });
      }
      for (const [gpu, c] of d.gpuCaps ?? []) {
        out.aiCaps.push({ id, gpu, originalW: c.originalW, since: new Date(c.at).toISOString() });
      }
    }
    return out;
  }

  /** What the Modbus setpoint server reports back to the RTU. */
  readback(): SiteReadback {
    const { state, stores, config } = this.d;
    const now = Date.now();
    const snap = this.snapshot();
    const view = planView(state, this.d.miners(), {
      now,
      isExcluded: (id) => stores.isExcluded(id),
    });
    const ledger = stores.ledger?.view(now).devices;
    let flexibleW = 0;
    for (const m of view.miners) if (isFlexible(m, ledger?.get(m.id), now)) flexibleW += m.powerW ?? 0;
    const budget = this.d.loop()?.last?.budget ?? null;
    return {
      powerW: snap.powerW,
      budgetW: budget?.budgetW ?? config.site.contractLimitW,
      flexibleW,
      loopHealthy: this.d.unhealthyReason(now) === null,
      meterOk: snap.meter?.ok === true,
      failsafe: budget?.source === "failsafe",
    };
  }

  /** Tick count and duration percentiles over the last 1,000 ticks, and action totals. */
  private controlStats() {
    const [tickMsP50, tickMsP99] = this.d.tickTimes.quantiles(0.5, 0.99);
    const stats = this.d.loop()?.stats;
    return {
      ticks: stats?.ticks ?? 0,
      tickErrors: stats?.tickErrors ?? 0,
      tickMsP50,
      tickMsP99,
      actionsDone: stats?.actionsDone ?? 0,
      actionsFailed: stats?.actionsFailed ?? 0,
    };
  }

  /** What a miner's driver knows of it: detected dialect, capabilities, what was withdrawn. */
  private driverView(id: string) {
    const m = this.d.miners().get(id);
    return m
      ? {
          dialect: m.dialect,
          capabilities: [...m.capabilities],
          withdrawn: m.withdrawn.map((w) => ({ capability: w.capability, reason: w.reason })),
        }
      : null;
  }
}

/** A signal as /api/site shows it: times as ISO-8601. */
function signalJson(s: SignalStatus) {
  return {
    name: s.name,
    kind: s.kind,
    state: s.state,
    value: s.budgetW ?? (s.keepFraction != null ? s.keepFraction : null),
    budgetW: s.budgetW,
    keepFraction: s.keepFraction ?? null,
    since: new Date(s.since).toISOString(),
    reason: s.reason,
  };
}
