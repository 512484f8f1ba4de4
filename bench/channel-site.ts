// The Site as the MQTT channel sees it (its port, mqtt/types.ts), driven by a
// bench: the bench fires ticks, sweeps and events itself, and the channel
// publishes them as it would for a running site. Nothing else is there: the
// intents a command would hand over throw. Also the fleet config those
// benches load (benchFleetConfig).
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SweepStats } from "../agent/devices/poller.ts";
import type { ChannelSite } from "../agent/mqtt/channel.ts";
import type { BrokerStatus, PollDriver, SiteTick } from "../agent/site/site.ts";
import type { SiteState } from "../agent/site/state.ts";
import type { SiteEvent } from "../agent/store/events.ts";
import { loadConfig } from "../config/load.ts";
import type { SiteConfig } from "../config/schema.ts";

const SHED_EVENT = {
  kind: "shed",
  severity: "info",
  deviceId: "bench-1",
  message: "sleep bench-1: over budget",
  data: { action: "sleep", valueW: null, expectedDeltaW: -3300 },
} as const;

export function benchChannelSite(config: SiteConfig, state: SiteState) {
  const ticks = new Set<(t: SiteTick) => void>();
  const sweeps = new Set<(d: PollDriver, stats: SweepStats) => void>();
  const events = new Set<(e: SiteEvent) => void>();
  let brokerStatus: (() => BrokerStatus) | null = null;
  const listen = <F>(set: Set<F>, fn: F) => {
    set.add(fn);
    return () => set.delete(fn);
  };
  const notHere = () => {
    throw new Error("not in the bench");
  };
  const site: ChannelSite = {
    config,
    state,
    onTick: (fn) => listen(ticks, fn),
    onSweep: (fn) => listen(sweeps, fn),
    onEvent: (fn) => listen(events, fn),
    setBrokerStatus: (fn) => {
      brokerStatus = fn;
    },
    snapshot: () => state.snapshot(),
    budgetLease: null,
    mode: "auto",
    curtailment: () => ({ curtailed: [], aiCaps: [] }),
    audit: null,
    offerPrice: () => null,
    signalTopics: [],
    signalMessage: () => undefined,
    refusePrice: () => undefined,
    setBudgetLease: notHere,
    clearBudgetLease: notHere,
    setMode: notHere,
    deviceAction: notHere,
  };
  const stats: SweepStats = {
    durationMs: 0,
    inFlightMax: 0,
    queueMs: 0,
    loopBusy: 0,
    attempted: 0,
    skippedBackoff: 0,
    failed: 0,
  };
  let eventId = 0;
  return {
    site,
    /** The channel's link, as it reports it (disconnected before it started). */
    status: (): BrokerStatus => brokerStatus?.() ?? { connected: false, outboxMessages: 0 },
    /** A miner poll cycle ended. */
    sweep: () => {
      for (const fn of sweeps) fn("cgminer", stats);
    },
    /** A site tick at `at` (now by default), on the state's snapshot then. */
    tick: (at?: number) => {
      const snapshot = state.snapshot(at);
      const t: SiteTick = { at: snapshot.at, snapshot, budget: null, mode: "auto", control: null };
      for (const fn of ticks) fn(t);
    },
    /** A shed event at `at`. */
    event: (at = Date.now()) => {
      const e: SiteEvent = { id: ++eventId, at, ...SHED_EVENT, data: { ...SHED_EVENT.data } };
      for (const fn of events) fn(e);
    },
  };
}

/** A site of `miners` LuxOS miners (10.1.0.0 up; never dialled) with its store, in a new folder named from `prefix`. */
export async function benchFleetConfig(
  prefix: string,
  miners: number,
): Promise<{ dir: string; config: SiteConfig }> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const last = miners - 1;
  writeFileSync(
    join(dir, "site.yaml"),
    `site: { id: bench, timezone: UTC, contractLimitW: 24MW }
store: { path: ./state.db }
miners:
  - { hosts: 10.1.0.0-10.1.${Math.floor(last / 256)}.${last % 256}, dialect: luxos }
`,
  );
  return { dir, config: (await loadConfig(join(dir, "site.yaml"))).config };
}
