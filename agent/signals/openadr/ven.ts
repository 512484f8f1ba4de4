// `signals.openadr`: an OpenADR 3 VEN. Polls the VTN every pollS for the
// events of the configured programs, follows the interval in force (a budget
// source), and after each interval it followed reports the site's usage back
// (POST /reports). A VTN that stops answering leaves the schedule it last
// served in force (events carry their own times) and the signal reads stale.

import type { SignalsConfig } from "../../../config/schema.ts";
import type { Logger } from "../../runtime/logger.ts";
import type { SignalInput, SignalStatus, SiteReadback } from "../types.ts";
import { activeInterval, type OadrEvent, type PlacedInterval, placeIntervals } from "./schedule.ts";
import { VtnClient } from "./vtn-client.ts";

export interface VenOptions {
  name: string;
  client: VtnClient;
  venName: string;
  programs: readonly string[];
  pollMs: number;
  /** No successful poll this long: the signal reads stale (the last schedule still applies). */
  staleS: number;
  simpleLevels: ReadonlyMap<number, number>;
  readSite: () => SiteReadback;
  logger: Logger;
  /** A report sent or failed, a program not found (events, audit). */
  onNote?: (n: { ok: boolean; what: string }) => void;
  now?: () => number;
}

/** A report the VTN refuses or does not answer is tried this many times in all. */
const REPORT_ATTEMPTS = 5;

interface Usage {
  interval: PlacedInterval;
  energyWh: number;
  coveredMs: number;
  lastAt: number;
}

export class OpenAdrVen implements SignalInput {
  readonly kind = "openadr" as const;
  readonly name: string;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private events: OadrEvent[] = [];
  private readonly seen = new Map<string, number>();
  private okAt: number | null = null;
  private error: string | null = null;
  private missing: string[] = [];
  private readonly usage = new Map<string, Usage>();
  private readonly reported = new Set<string>();
  /** Reports the VTN did not take yet: sent again after the next good poll, a few times. */
  private retry: Array<{ u: Usage; attempts: number }> = [];
  private readonly now: () => number;
  private last: SignalStatus;
  private polling: Promise<void> | null = null;

  constructor(private readonly o: VenOptions) {
    this.name = o.name;
    this.now = o.now ?? Date.now;
    this.last = {
      name: this.name,
      kind: "openadr",
      state: "idle",
      budgetW: null,
      since: this.now(),
      reason: "not polled yet",
    };
  }

  async start(): Promise<void> {
    this.stopped = false;
    const loop = async () => {
      await this.poll();
      if (!this.stopped) this.timer = setTimeout(loop, this.o.pollMs);
    };
    // the first poll runs at once but the site does not wait for a VTN
    void loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.polling;
  }

  /** One poll of the VTN (exposed for tests and `probe signal openadr`). */
  poll(): Promise<void> {
    this.polling ??= this.pollOnce().finally(() => {
      this.polling = null;
    });
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    try {
      const ids = await this.o.client.programIds(this.o.programs);
      const missing = this.o.programs.filter((p) => !ids.has(p));
      if (missing.join() !== this.missing.join()) {
        this.missing = missing;
        if (missing.length > 0)
          this.o.onNote?.({ ok: false, what: `programs not on the VTN: ${missing.join(", ")}` });
      }
      const events: OadrEvent[] = [];
      for (const id of ids.values()) events.push(...(await this.o.client.events(id)));
      const now = this.now();
      for (const e of events) if (!this.seen.has(e.id)) this.seen.set(e.id, now);
      // an event gone from the VTN (cancelled, deleted) stops applying
      for (const id of [...this.seen.keys()]) if (!events.some((e) => e.id === id)) this.seen.delete(id);
      this.events = events;
      this.okAt = now;
      const again = this.retry;
      this.retry = [];
      for (const r of again) void this.sendReport(r.u, r.attempts);
      if (this.error) this.o.logger.info("VTN answering again");
      this.error = null;
    } catch (err) {
      const why = (err as Error).message;
      if (why !== this.error) this.o.logger.warn({ err: why }, "VTN poll failed");
      this.error = why;
    }
  }

  /** The programs and intervals it would follow (probe signal openadr). */
  schedule(): {
    programs: readonly string[];
    missing: string[];
    intervals: PlacedInterval[];
    error: string | null;
  } {
    return { programs: this.o.programs, missing: this.missing, intervals: this.place(), error: this.error };
  }

  private place(): PlacedInterval[] {
    return placeIntervals(this.events, {
      venName: this.o.venName,
      seenAt: (id) => this.seen.get(id) ?? this.now(),
      simpleLevels: this.o.simpleLevels,
    });
  }

  status(now: number): SignalStatus {
    const intervals = this.place();
    this.account(intervals, now);
    const a = activeInterval(intervals, now);
    const stale = this.okAt === null ? this.error !== null : now - this.okAt > this.o.staleS * 1000;
    const of = (iv: PlacedInterval) =>
      `event ${iv.eventName ?? iv.eventId} interval ${iv.intervalId}: ${iv.what} until ${Number.isFinite(iv.endMs) ? new Date(iv.endMs).toISOString() : "further notice"}`;
    let v: Pick<SignalStatus, "state" | "budgetW" | "reason">;
    if (this.okAt === null && this.error !== null)
      v = { state: "error", budgetW: null, reason: `VTN: ${this.error}` };
    else if (stale) {
      v = {
        state: "stale",
        budgetW: a?.budgetW ?? null,
        reason: `VTN unanswered for ${Math.round((now - (this.okAt ?? now)) / 1000)} s (${this.error ?? "no reply"}); ${a ? `the last schedule stands: ${of(a)}` : "no interval in force"}`,
      };
    } else if (a) v = { state: "active", budgetW: a.budgetW, reason: of(a) };
    else
      v = {
        state: "idle",
        budgetW: null,
        reason:
          this.missing.length > 0
            ? `programs not on the VTN: ${this.missing.join(", ")}`
            : "no event interval in force",
      };
    const same = v.state === this.last.state && v.budgetW === this.last.budgetW;
    this.last = { ...this.last, ...v, since: same ? this.last.since : now };
    return this.last;
  }

  /** Integrates the site's power over the intervals in force; reports each one once it ends. */
  private account(intervals: readonly PlacedInterval[], now: number): void {
    const powerW = this.o.readSite().powerW;
    for (const iv of intervals) {
      const key = `${iv.eventId}/${iv.intervalId}`;
      if (this.reported.has(key)) continue;
      const inForce = iv.startMs <= now && now < iv.endMs;
      let u = this.usage.get(key);
      if (inForce) {
        if (!u) {
          u = { interval: iv, energyWh: 0, coveredMs: 0, lastAt: now };
          this.usage.set(key, u);
        } else {
          const dt = Math.max(0, Math.min(now, iv.endMs) - u.lastAt);
          if (powerW !== null) {
            u.energyWh += (powerW * dt) / 3_600_000;
            u.coveredMs += dt;
          }
          u.lastAt = now;
        }
      } else if (u && now >= iv.endMs) {
        this.reported.add(key);
        this.usage.delete(key);
        void this.sendReport(u);
      }
    }
  }

  private async sendReport(u: Usage, attempts = 0): Promise<void> {
    const iv = u.interval;
    const durationMs = iv.endMs - iv.startMs;
    const hours = u.coveredMs / 3_600_000;
    const demandKw = hours > 0 ? u.energyWh / 1000 / hours : 0;
    try {
      await this.o.client.report({
        eventID: iv.eventId,
        clientName: this.o.venName,
        reportName: `${this.o.venName} usage ${iv.eventId}/${iv.intervalId}`,
        resourceName: this.o.venName,
        intervals: [
          { id: iv.intervalId, startMs: iv.startMs, durationMs, usageKwh: u.energyWh / 1000, demandKw },
        ],
      });
      this.o.onNote?.({
        ok: true,
        what: `usage report for event ${iv.eventId} interval ${iv.intervalId}: ${demandKw.toFixed(1)} kW`,
      });
    } catch (err) {
      const last = attempts + 1 >= REPORT_ATTEMPTS;
      if (!last) this.retry.push({ u, attempts: attempts + 1 });
      this.o.onNote?.({
        ok: false,
        what: `usage report for event ${iv.eventId} interval ${iv.intervalId} failed (${(err as Error).message}); ${last ? "given up" : "to be sent again"}`,
      });
    }
  }
}

/** A VEN as the config's `signals.openadr` section describes it (the site and `probe signal openadr` alike). */
export function venFromConfig(
  a: NonNullable<SignalsConfig["openadr"]>,
  o: Pick<VenOptions, "readSite" | "logger" | "onNote">,
): OpenAdrVen {
  const levels = new Map<number, number>();
  for (const [k, w] of Object.entries(a.simpleLevels)) if (w !== undefined) levels.set(Number(k), w);
  return new OpenAdrVen({
    name: a.name,
    client: new VtnClient(a.vtnUrl, {
      clientId: a.clientId,
      clientSecret: a.clientSecret,
      tokenUrl: a.tokenUrl,
      token: a.token,
    }),
    venName: a.venName,
    programs: a.programs,
    pollMs: a.pollS * 1000,
    staleS: a.staleS,
    simpleLevels: levels,
    ...o,
  });
}
