// Builds the site's control loop: the actuator over the drivers, the budget
// inputs (lease, economic cut, grid signals) judged on the same snapshot the
// policy plans on, the tick metrics, the loop's events as site events, and
// the beat that drives the site's clock. The mode kept from before a restart
// is taken back here (hold stays hold).
import type { SiteConfig } from "../../config/schema.ts";
import type { Miner } from "../../drivers/cgminer/miner.ts";
import type { GpuNode } from "../../drivers/nvidia/node.ts";
import { driverActuator } from "../control/actuator.ts";
import { economicSource, flexView } from "../control/economic-source.ts";
import { type ControlEvent, ControlLoop } from "../control/loop.ts";
import { signalSources } from "../control/signal-budget.ts";
import type { TickTimes } from "../control/tick-times.ts";
import type { BudgetLease } from "../control/types.ts";
import type { CommandFirst } from "../devices/command-first.ts";
import type { HeapBurst } from "../runtime/heap.ts";
import type { Logger } from "../runtime/logger.ts";
import { tickDuration } from "../runtime/metrics.ts";
import type { SignalStatus } from "../signals/types.ts";
import type { Ledger } from "../store/ledger.ts";
import type { Settings } from "../store/settings.ts";
import { ACTION_TIMEOUT_MS } from "./clock.ts";
import type { SiteEvents } from "./event-bus.ts";
import { outcomeEvent, programEvent } from "./events.ts";
import { planView } from "./plan-view.ts";
import type { SitePrices } from "./prices.ts";
import type { SiteState } from "./state.ts";

/**
 * A poller reading this recent (or from the last two polls, when polls are further apart) stands
 * as the "before" a write is confirmed against; an older one costs a read before the command.
 * What a write takes from it holds for a minute: the draw a sleep must halve, the uptime a reboot
 * must reset, the model a limit must fit. It was 15 s, and at 20,000 miners the poller's own wait
 * for the shed (command-first.ts) aged half the fleet past it: each of those paid a full read
 * (two connections) before its sleep went out.
 */
const FRESH_READING_MS = 60_000;
const FRESH_READING_POLLS = 2;
/** The loop's deadline on a drain command beyond the command's own (the SSH round trip). */
const DRAIN_DEADLINE_SLACK_MS = 5000;

export interface ControlDeps {
  config: SiteConfig;
  state: SiteState;
  logger: Logger;
  ledger: Ledger;
  settings: Settings;
  miners: ReadonlyMap<string, Miner>;
  gpuNodes: ReadonlyMap<string, GpuNode>;
  prices: SitePrices;
  events: SiteEvents;
  tickTimes: TickTimes;
  /** Commands on the wire at once: the poller's fan-out, so an emergency shed reaches the whole fleet. */
  concurrency: number;
  /** Shared with the miner poller: it waits while the loop's commands go out. */
  commandFirst: CommandFirst;
  /** How the heap takes a fleet-wide shed (runtime/heap.ts); none: as always. */
  heapBurst?: HeapBurst | undefined;
  /** The miner poll period (how old the poller's readings get). */
  minerPollMs: number;
  lease(): BudgetLease | null;
  signals(): SignalStatus[];
  beat(): void;
}

export function buildControlLoop(d: ControlDeps): ControlLoop {
  const { config, state, ledger, settings, miners } = d;
  const c = config.control;
  const gpuCfg = (id: string) => config.gpuNodes.find((x) => x.id === id);
  const freshMs = Math.max(FRESH_READING_MS, FRESH_READING_POLLS * d.minerPollMs);
  const actuator = driverActuator({
    miners,
    gpuNodes: d.gpuNodes,
    defaultLimitW: (nodeId, index) =>
      state.gpuNodes.get(nodeId)?.gpus.find((g) => g.index === index)?.defaultPowerLimitW ?? null,
    freshReading: (id) => {
      const r = state.miners.get(id)?.reading ?? null;
      return r && Date.now() - r.at <= freshMs ? r : null;
    },
    onReadBack: (id, after) => state.setMinerReadBack(id, after),
    drainCommands: (nodeId) => {
      const g = gpuCfg(nodeId);
      return g?.drainCommand && g.resumeCommand
        ? { command: g.drainCommand, resumeCommand: g.resumeCommand, timeoutS: g.commandTimeoutS }
        : null;
    },
    clockLockOf: (nodeId) => gpuCfg(nodeId)?.lockClocksMHz ?? null,
  });
  const log = d.logger.child({ component: "control" });
  const siteMeter = config.meters.some((m) => m.role === "site");
  const loop = new ControlLoop({
    getSnapshot: () =>
      planView(state, miners, {
        isExcluded: (id) => settings.isExcluded(id),
      }),
    budgetInputs: (snapshot) => {
      const now = Date.now();
      d.prices.expire(now);
      const devices = ledger.view(now).devices;
      return {
        lease: d.lease(),
        economic: economicSource({
          view: snapshot,
          devices,
          prices: d.prices.current(now),
          shedMarginW: c.shedMarginW,
        }),
        siteMeter,
        signals: signalSources(d.signals(), flexView(snapshot, devices), c.shedMarginW),
      };
    },
    actuator,
    ledger,
    config: { site: config.site, control: c },
    logger: log,
    actionTimeoutMs: ACTION_TIMEOUT_MS,
    // a drain command has its own deadline (the node ends it there): the loop waits a little longer
    actionTimeoutFor: (a) => {
      if (a.kind !== "drainGpuNode" && a.kind !== "resumeGpuNode") return null;
      const g = gpuCfg(a.deviceId);
      return g ? g.commandTimeoutS * 1000 + DRAIN_DEADLINE_SLACK_MS : null;
    },
    concurrency: d.concurrency,
    commandFirst: d.commandFirst,
    heapBurst: d.heapBurst,
    onTickEnd: (_r, ms) => {
      tickDuration.observe(ms / 1000);
      d.tickTimes.add(ms);
    },
    onEvent: (e) => controlEvent(e, d.events),
    onBeat: d.beat,
  });
  if (settings.mode === "hold") {
    loop.setMode("hold");
    log.warn("control mode is hold (kept from before the restart): planning, not acting");
  }
  return loop;
}

/**
 * A control outcome as a site event (an operator's event is reported by the intent, with who
 * asked). Its log line is the applier's (action-log.ts).
 */
function controlEvent(e: ControlEvent, events: SiteEvents): void {
  const event = outcomeEvent(e) ?? programEvent(e);
  if (event) events.emit(event);
}
