// The site's grid signals: built from the config's signals section, started
// and stopped with the site, asked for their status every tick. A change of a
// signal's state or value is one event; what the RTU writes (a new setpoint,
// a refused write) is audited.
import type { SiteConfig } from "../../config/schema.ts";
import { formatPowerW } from "../../config/units.ts";
import type { Logger } from "../runtime/logger.ts";
import { signalState, signalValue } from "../runtime/metrics.ts";
import { ContactSignal } from "../signals/contact.ts";
import { ModbusServerSignal } from "../signals/modbus-server.ts";
import { MqttTargetSignal } from "../signals/mqtt-target.ts";
import { type OpenAdrVen, venFromConfig } from "../signals/openadr/ven.ts";
import { SIGNAL_STATES, type SignalInput, type SignalStatus, type SiteReadback } from "../signals/types.ts";
import type { NewAuditEntry } from "../store/audit.ts";
import type { NewSiteEvent } from "../store/events.ts";

export interface SiteSignalsDeps {
  config: SiteConfig;
  logger: Logger;
  readSite: () => SiteReadback;
  emit: (e: NewSiteEvent) => void;
  audit: (e: NewAuditEntry) => void;
  /** A signal took a new instruction: the loop should look at once, not at its next tick (the CLR path). */
  wake?: () => void;
}

export class SiteSignals {
  private readonly inputs: SignalInput[] = [];
  private target: MqttTargetSignal | null = null;
  private ven: OpenAdrVen | null = null;
  /** What each signal last reported, so a change is one event. */
  private readonly last = new Map<string, string>();

  constructor(private readonly d: SiteSignalsDeps) {}

  async start(): Promise<void> {
    const s = this.d.config.signals;
    if (!s) return;
    const log = this.d.logger.child({ component: "signals" });
    const c = this.d.config;
    if (s.modbusServer) {
      const m = s.modbusServer;
      this.inputs.push(
        new ModbusServerSignal({
          name: m.name,
          host: m.listen.host,
          port: m.listen.port,
          unitId: m.unitId,
          allow: m.allow,
          limits: {
            maxW: c.site.contractLimitW,
            staleS: m.staleS,
            onStale: m.onStale,
            failsafeBudgetW: c.control.failsafeBudgetW,
          },
          readSite: this.d.readSite,
          logger: log.child({ signal: m.name }),
          onWrite: (w) => {
            if (w.ok) this.d.wake?.();
            this.d.audit({
              at: Date.now(),
              via: "modbus",
              who: w.from || "unknown",
              action: "signal/setpoint",
              body: { address: w.address, values: w.values },
              ok: w.ok,
              error: w.why,
              ref: m.name,
            });
          },
        }),
      );
    }
    if (s.contact) {
      const k = s.contact;
      const mb = k.modbus;
      this.inputs.push(
        new ContactSignal({
          name: k.name,
          endpoint:
            mb.kind === "rtu"
              ? {
                  kind: "rtu",
                  path: mb.path,
                  baudRate: mb.baudRate,
                  parity: mb.parity,
                  dataBits: mb.dataBits,
                  stopBits: mb.stopBits,
                }
              : { kind: mb.kind, host: mb.host, port: mb.port },
          unitId: mb.unitId,
          table: k.coil !== undefined ? "coil" : "discrete",
          address: k.coil ?? k.discreteInput ?? 0,
          activeBudgetW: k.activeBudgetW,
          pollMs: k.pollS * 1000,
          staleS: k.staleS,
          onStale: k.onStale,
          failsafeBudgetW: c.control.failsafeBudgetW,
          logger: log.child({ signal: k.name }),
          onChange: () => this.d.wake?.(),
        }),
      );
    }
    if (s.target) {
      const t = s.target;
      this.target = new MqttTargetSignal({
        name: t.name,
        topic: t.topic,
        staleS: t.staleS,
        failPolicy: t.failPolicy,
        floorFraction: t.floorPct / 100,
        broker: t.url
          ? {
              url: t.url,
              protocolVersion: t.protocolVersion,
              username: t.username,
              password: t.password,
              ca: t.ca,
              clientId: `wattkeeper-${c.site.id}-target`,
            }
          : null,
        logger: log.child({ signal: t.name }),
        onTarget: () => this.d.wake?.(),
        onRefused: (why) =>
          this.d.audit({
            at: Date.now(),
            via: "mqtt",
            who: t.url ?? "site broker",
            action: "signal/target",
            body: { topic: t.topic },
            ok: false,
            error: why,
            ref: t.name,
          }),
      });
      this.inputs.push(this.target);
    }
    if (s.openadr) {
      const a = s.openadr;
      this.ven = venFromConfig(a, {
        readSite: this.d.readSite,
        logger: log.child({ signal: a.name }),
        onNote: (n) => {
          this.d.emit({
            at: Date.now(),
            kind: n.ok ? "signal-report" : "signal-problem",
            severity: n.ok ? "info" : "warning",
            message: `${a.name}: ${n.what}`,
            data: { name: a.name },
          });
          this.d.audit({
            at: Date.now(),
            via: "openadr",
            who: a.venName,
            action: "signal/openadr",
            body: { vtn: a.vtnUrl },
            ok: n.ok,
            error: n.ok ? null : n.what,
            ref: a.name,
          });
        },
      });
      this.inputs.push(this.ven);
    }
    for (const input of this.inputs) {
      try {
        await input.start();
      } catch (err) {
        // a signal that cannot start is an error the page shows; the site runs on
        log.error(
          { err, signal: input.name },
          `signal ${input.name} failed to start: ${(err as Error).message}`,
        );
      }
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.inputs.map((i) => i.stop().catch(() => undefined)));
    this.inputs.length = 0;
    this.target = null;
    this.ven = null;
  }

  /** The topic of a target read from the site's own broker, if any (the channel subscribes to it). */
  get ownBrokerTopic(): string | null {
    const t = this.d.config.signals?.target;
    return t && t.url === null ? t.topic : null;
  }

  /** A message on the own-broker target topic. */
  targetMessage(payload: Buffer): void {
    this.target?.handle(payload);
    this.d.wake?.();
  }

  /** Every signal's status now; each change of state or value becomes one event. */
  statuses(now: number = Date.now()): SignalStatus[] {
    const out = this.inputs.map((i) => i.status(now));
    for (const s of out) {
      const key = `${s.state}|${s.budgetW}|${s.keepFraction ?? ""}`;
      signalValue.set({ name: s.name }, s.budgetW ?? (s.keepFraction != null ? s.keepFraction * 100 : -1));
      for (const st of SIGNAL_STATES) signalState.set({ name: s.name, state: st }, s.state === st ? 1 : 0);
      if (this.last.get(s.name) === key) continue;
      const first = !this.last.has(s.name);
      this.last.set(s.name, key);
      if (first && s.state === "idle") continue;
      const value =
        s.budgetW !== null
          ? ` ${formatPowerW(s.budgetW)}`
          : s.keepFraction != null
            ? ` ${Math.round(s.keepFraction * 100)} %`
            : "";
      this.d.emit({
        at: now,
        kind: "signal-changed",
        severity: s.state === "stale" || s.state === "error" ? "warning" : "info",
        message: `signal ${s.name} (${s.kind}) ${s.state}${value}: ${s.reason}`,
        data: {
          name: s.name,
          kind: s.kind,
          state: s.state,
          budgetW: s.budgetW,
          keepFraction: s.keepFraction ?? null,
        },
      });
    }
    return out;
  }
}
