// One device in full for the miner detail page (`GET /api/devices/<id>`):
// its row as /api/devices shows it, the model catalogue's entry, its
// exclusion, its problems, the actions the page may offer (from its
// capabilities: one per DEVICE_ACTIONS entry the device can do, so a new
// device action shows up as soon as a dialect declares it), its last ledger
// actions, its events and its sparkline. Pure: the Site hands in what it read.
import type { KnownModel } from "../../drivers/cgminer/models.ts";
import { DEVICE_ACTIONS, type DeviceActionName } from "../control/intents.ts";
import type { DeviceDetail, DeviceLedgerRow, OfferedAction } from "../http/types.ts";
import type { deviceRow } from "../site/device-rows.ts";
import { listProblems } from "../site/problems.ts";
import { tighter } from "../site/state.ts";
import type { SiteEvent } from "../store/events.ts";
import type { LedgerEvent } from "../store/ledger.ts";
import type { Exclusion } from "../store/settings.ts";
import type { DevicePoint } from "./history.ts";
import type { MinerHealth } from "./miner-health.ts";

type DeviceRow = NonNullable<ReturnType<typeof deviceRow>>;

export interface DeviceDetailInput {
  device: DeviceRow;
  model: KnownModel | null;
  exclusion: Exclusion | null;
  ledger: readonly LedgerEvent[];
  events: readonly SiteEvent[];
  history: readonly DevicePoint[];
  historyEveryMs: number;
  /** When the device's open outage began (its problems' since). */
  outageSince: number | null;
  now: number;
}

/** Actions that are not device commands: offered to every device (one or the other). */
const CONTROL_ACTIONS: ReadonlySet<string> = new Set(["exclude", "include"]);

/** The capability an action needs: its name in camel case (set-power-limit → setPowerLimit, locate → locate). */
export function capabilityFor(action: string): string {
  return action.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** "set-power-limit" → "Set power limit". */
function labelOf(action: string): string {
  const words = action.replace(/-/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/**
 * The actions a device offers, in DEVICE_ACTIONS order: each device command
 * its capabilities allow, then exclude or include. A power limit comes with
 * its range (the narrower of the firmware's and the model's).
 */
export function offeredActions(
  capabilities: readonly string[],
  excluded: boolean,
  limit: { min: number | null; max: number | null; current: number | null },
): OfferedAction[] {
  const caps = new Set(capabilities);
  const out: OfferedAction[] = [];
  for (const action of DEVICE_ACTIONS as readonly DeviceActionName[]) {
    if (CONTROL_ACTIONS.has(action)) {
      if ((action === "exclude") === excluded) continue;
    } else if (!caps.has(capabilityFor(action))) continue;
    out.push({
      action,
      label: labelOf(action),
      value: action === "set-power-limit" ? { unit: "W", ...limit } : null,
    });
  }
  return out;
}

/** "LUXminer 2024.6.25.134021-5d6e7a3d" → {name: "LUXminer", version: "2024.6.25…"}; a bare string is its name. */
export function firmwareParts(raw: string | null | undefined): DeviceDetail["firmware"] {
  if (!raw) return null;
  const m = /^([A-Za-z][\w.-]*?)[\s_-]+v?(\d[^\s]*(?:\s.*)?)$/.exec(raw.trim());
  return m ? { name: m[1]!, version: m[2]!, raw } : { name: raw, version: null, raw };
}

function ledgerRow(e: LedgerEvent): DeviceLedgerRow {
  return {
    at: e.createdAt,
    action: e.kind,
    valueW: e.valueW,
    gpuIndex: e.gpuIndex,
    origin: e.origin,
    outcome: e.state,
    reason: e.reason,
    detail: e.outcomeReason,
    finishedAt: e.finishedAt,
  };
}

export function buildDeviceDetail(input: DeviceDetailInput): DeviceDetail {
  const { device, model, exclusion, now } = input;
  const excluded = exclusion !== null && (exclusion.until === null || exclusion.until > now);
  const common = {
    exclusion: excluded
      ? { by: exclusion.by, at: exclusion.at, reason: exclusion.reason, until: exclusion.until }
      : null,
    ledger: input.ledger.map(ledgerRow),
    events: [...input.events],
    history: { everyS: input.historyEveryMs / 1000, points: [...input.history] },
  };
  // a device's own problems: no site signals are judged
  const noSignals = { signals: [] };
  if (device.kind === "gpuNode") {
    const g = device.row;
    const gpus = g.gpus.filter((x) => x.index !== null);
    const mins = gpus.flatMap((x) => (x.minPowerLimitW == null ? [] : [x.minPowerLimitW]));
    const maxs = gpus.flatMap((x) => (x.maxPowerLimitW == null ? [] : [x.maxPowerLimitW]));
    return {
      id: g.id,
      class: "ai",
      location: g.location ?? null,
      host: g.host,
      port: g.port,
      dialect: null,
      configuredDialect: null,
      firmware: null,
      capabilities: ["setPowerLimit"],
      withdrawn: [],
      model: null,
      state: g.state,
      reason: g.reason,
      reading: g as unknown as Record<string, unknown>,
      health: null,
      problems: listProblems({
        site: noSignals,
        devices: { miners: [], meters: [], gpuNodes: [g] },
        outageSince: () => input.outageSince,
        now,
      }),
      actions: offeredActions(["setPowerLimit"], excluded, {
        min: mins.length > 0 ? Math.max(...mins) : null,
        max: maxs.length > 0 ? Math.min(...maxs) : null,
        current: gpus[0]?.enforcedPowerLimitW ?? gpus[0]?.powerLimitW ?? null,
      }),
      ...common,
    };
  }
  const m = device.row;
  const r = m as typeof m & {
    model?: string | null;
    firmware?: string | null;
    reason?: string | null;
    powerLimitW?: number | null;
    minPowerLimitW?: number | null;
    maxPowerLimitW?: number | null;
  };
  const health = (m.health ?? null) as MinerHealth | null;
  const { poolPolicy: _policy, ...reading } = m;
  return {
    id: m.id,
    class: "mining",
    location: m.location ?? null,
    host: m.host,
    port: m.port,
    dialect: m.dialect,
    configuredDialect: m.configuredDialect,
    firmware: firmwareParts(r.firmware),
    capabilities: [...m.capabilities],
    withdrawn: [...m.withdrawn],
    model: model
      ? {
          name: model.name,
          reported: r.model ?? null,
          nominalW: model.nominalW,
          nominalThs: model.nominalThs,
          powerLimitW: model.powerLimitW,
          sleepW: model.sleepW,
          wakeUpS: model.wakeUpS,
          hotChipC: model.hotChipC,
          hotBoardC: model.hotBoardC,
          origin: model.origin,
        }
      : null,
    state: m.state,
    reason: r.reason ?? null,
    reading: reading as Record<string, unknown>,
    health,
    problems: listProblems({
      site: noSignals,
      // its problems as the list shows them, judged as if it were in automatic control
      devices: { miners: [{ ...m, excluded: false }], meters: [], gpuNodes: [] },
      outageSince: () => input.outageSince,
      now,
    }),
    actions: offeredActions(m.capabilities, excluded, {
      min: tighter(r.minPowerLimitW, model?.powerLimitW?.min, Math.max),
      max: tighter(r.maxPowerLimitW, model?.powerLimitW?.max, Math.min),
      current: r.powerLimitW ?? null,
    }),
    ...common,
  };
}
