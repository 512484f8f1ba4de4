// The Sparkplug metrics of the edge node and of each device, from the same
// site and device views the status page reads (pure: views in, typed metrics
// out). Names use Sparkplug's "/" folders; units are in the names; powers are
// Double, counts Int32, states and reasons String, flags Boolean. A metric
// may carry a deadband: report by exception republishes it only when it moves
// by more than that (powers: exports.sparkplug.reportByExceptionW).
import type { DevicesView, SiteView } from "../../http/types.ts";

type SpType = "Int32" | "Int64" | "UInt64" | "Float" | "Double" | "Boolean" | "String" | "DateTime";
export type SpValue = number | string | boolean | null;

export interface SpMetric {
  name: string;
  type: SpType;
  value: SpValue;
  /** Report by exception: a number is republished only when it moves by more than this (0: any change). */
  deadband?: number;
}

/** Written by NCMD (acceptCommands on): the control mode, auto | hold. */
export const MODE_METRIC = "Control/Mode";
/** Written together in one NCMD: a budget lease of this many watts for this many seconds. */
export const LEASE_W_METRIC = "Control/Lease W";
export const LEASE_TTL_METRIC = "Control/Lease TTL S";
/** Written true by NCMD: ends the lease in force. */
export const LEASE_CLEAR_METRIC = "Control/Lease Clear";
/** Written by DCMD on a miner or GPU node: sleep | wake | exclude | include. */
export const ACTION_METRIC = "Control/Action";
/** What the last Control/Action did: "sleep: done", "wake: failed: …". */
const LAST_ACTION_METRIC = "Control/Last Action";
/** Written true by NCMD (or any host): a fresh NBIRTH and every DBIRTH. Honoured even with commands off. */
export const REBIRTH_METRIC = "Node Control/Rebirth";

/** Deadbands of the metrics that drift without meaning anything (a reading's age, a countdown, a temperature). */
const AGE_DEADBAND_S = 5;
const TTL_DEADBAND_S = 60;
const TEMP_DEADBAND_C = 1;
/** Hashrate moves with every share window: republished only when it moves by more than 2 % of itself. */
const HASHRATE_DEADBAND_FRACTION = 0.02;
const hashDeadband = (ths: unknown) =>
  typeof ths === "number" && Number.isFinite(ths) ? Math.abs(ths) * HASHRATE_DEADBAND_FRACTION : 0;

export interface NodeInputs {
  site: SiteView;
  version: string;
  /** Why the agent is unhealthy (the /healthz reason); null when healthy. */
  unhealthyReason: string | null;
  reportByExceptionW: number;
  now: number;
}

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
const bool = (v: unknown): boolean | null => (typeof v === "boolean" ? v : null);

interface LeaseView {
  watts: number;
  expiresAt: string;
  reason: string;
}

function leaseOf(site: SiteView): LeaseView | null {
  const l = site.lease as Partial<LeaseView> | null | undefined;
  if (!l || typeof l.watts !== "number" || typeof l.expiresAt !== "string") return null;
  return { watts: l.watts, expiresAt: l.expiresAt, reason: typeof l.reason === "string" ? l.reason : "" };
}

/** The edge node's own metrics (NBIRTH adds bdSeq; the session adds nothing else). */
export function nodeMetrics(i: NodeInputs): SpMetric[] {
  const s = i.site;
  const w = i.reportByExceptionW;
  const lease = leaseOf(s);
  const leaseEndMs = lease ? Date.parse(lease.expiresAt) : Number.NaN;
  const leaseLeftS = Number.isFinite(leaseEndMs) ? Math.max(0, Math.ceil((leaseEndMs - i.now) / 1000)) : null;
  const counts = s.counts ?? {};
  const count = (k: string) => num(counts[k]) ?? 0;
  return [
    { name: REBIRTH_METRIC, type: "Boolean", value: false },
    { name: "Properties/Version", type: "String", value: i.version },
    { name: "Properties/Site Id", type: "String", value: s.siteId },
    { name: "Site/Power W", type: "Double", value: num(s.powerW), deadband: w },
    { name: "Site/Power Source", type: "String", value: str(s.powerSource) },
    { name: "Site/Budget W", type: "Double", value: num(s.budgetW), deadband: w },
    { name: "Site/Budget Source", type: "String", value: s.budgetSource ?? null },
    { name: "Site/Budget Reason", type: "String", value: s.budgetReason },
    { name: "Site/AI Power W", type: "Double", value: num(s.classes.ai.powerW), deadband: w },
    { name: "Site/Mining Power W", type: "Double", value: num(s.classes.mining.powerW), deadband: w },
    { name: "Site/Aux Power W", type: "Double", value: num(s.classes.aux.powerW), deadband: w },
    {
      name: "Site/Hashrate THs",
      type: "Double",
      value: num(s.hashrateThs),
      deadband: hashDeadband(s.hashrateThs),
    },
    { name: "Site/Healthy", type: "Boolean", value: i.unhealthyReason === null },
    { name: "Site/Unhealthy Reason", type: "String", value: i.unhealthyReason },
    { name: "Site/Alarms", type: "String", value: (s.alarms ?? []).join(",") },
    { name: "Site/Meter OK", type: "Boolean", value: s.meter ? s.meter.ok : null },
    { name: "Site/Meter Age S", type: "Double", value: s.meter?.ageS ?? null, deadband: AGE_DEADBAND_S },
    { name: "Counts/Hashing", type: "Int32", value: count("hashing") },
    { name: "Counts/Sleeping", type: "Int32", value: count("sleeping") },
    { name: "Counts/Starting", type: "Int32", value: count("starting") },
    { name: "Counts/Faulted", type: "Int32", value: count("faulted") },
    { name: "Counts/Unreachable", type: "Int32", value: count("unreachable") },
    { name: "Counts/Excluded", type: "Int32", value: count("excluded") },
    { name: MODE_METRIC, type: "String", value: s.mode },
    { name: LEASE_W_METRIC, type: "Double", value: lease?.watts ?? null },
    { name: LEASE_TTL_METRIC, type: "Int32", value: leaseLeftS, deadband: TTL_DEADBAND_S },
    { name: "Control/Lease Reason", type: "String", value: lease?.reason ?? null },
    { name: LEASE_CLEAR_METRIC, type: "Boolean", value: false },
  ];
}

export type DeviceKind = "miner" | "gpu-node" | "meter";

export interface DeviceMetrics {
  deviceId: string;
  kind: DeviceKind;
  metrics: SpMetric[];
}

export interface DeviceInputs {
  devices: DevicesView;
  reportByExceptionW: number;
  /** The outcome of the last Control/Action per device id ("sleep: done"). */
  lastActions: ReadonlyMap<string, string>;
}

const maxOf = (xs: Array<number | null>): number | null => {
  const v = xs.filter((x): x is number => x !== null);
  return v.length > 0 ? Math.max(...v) : null;
};

/** One entry per configured device (miners, GPU nodes, meters), in config order. */
export function deviceMetrics(i: DeviceInputs): DeviceMetrics[] {
  const w = i.reportByExceptionW;
  const out: DeviceMetrics[] = [];
  for (const m of i.devices.miners) {
    const r = m as Record<string, unknown>;
    const temps = Array.isArray(r.boardTempsC) ? (r.boardTempsC as unknown[]).map(num) : [];
    out.push({
      deviceId: m.id,
      kind: "miner",
      metrics: [
        { name: "Class", type: "String", value: "mining" },
        { name: "State", type: "String", value: str(r.state) ?? "unknown" },
        { name: "Reason", type: "String", value: str(r.reason) },
        { name: "Power W", type: "Double", value: num(r.powerW), deadband: w },
        { name: "Power Estimated", type: "Boolean", value: bool(r.powerEstimated) },
        { name: "Power Limit W", type: "Double", value: num(r.powerLimitW), deadband: w },
        {
          name: "Hashrate THs",
          type: "Double",
          value: num(r.hashrateThs),
          deadband: hashDeadband(r.hashrateThs),
        },
        {
          name: "Chip Temp Max C",
          type: "Float",
          value: num(r.chipTempMaxC) ?? maxOf(temps),
          deadband: TEMP_DEADBAND_C,
        },
        { name: "Model", type: "String", value: str(r.model) },
        { name: "Firmware", type: "String", value: str(r.firmware) },
        { name: "Dialect", type: "String", value: str(r.dialect) },
        { name: "Location", type: "String", value: str(r.location) },
        { name: "Priority", type: "Int32", value: num(r.priority) },
        { name: "Excluded", type: "Boolean", value: m.excluded },
        { name: ACTION_METRIC, type: "String", value: "" },
        { name: LAST_ACTION_METRIC, type: "String", value: i.lastActions.get(m.id) ?? null },
      ],
    });
  }
  for (const g of i.devices.gpuNodes) {
    const limits = g.gpus.map((x) => num(x.enforcedPowerLimitW ?? x.powerLimitW));
    const known = limits.filter((x): x is number => x !== null);
    out.push({
      deviceId: g.id,
      kind: "gpu-node",
      metrics: [
        { name: "Class", type: "String", value: "ai" },
        { name: "State", type: "String", value: g.state ?? "unknown" },
        { name: "Reason", type: "String", value: g.reason },
        { name: "Power W", type: "Double", value: num(g.powerW), deadband: w },
        {
          name: "Power Limit W",
          type: "Double",
          value: known.length > 0 ? known.reduce((a, b) => a + b, 0) : null,
          deadband: w,
        },
        { name: "GPUs", type: "Int32", value: g.gpus.length },
        { name: "GPUs Busy", type: "Int32", value: g.gpus.filter((x) => x.busy === true).length },
        {
          name: "Temp Max C",
          type: "Float",
          value: maxOf(g.gpus.map((x) => num(x.tempC))),
          deadband: TEMP_DEADBAND_C,
        },
        { name: "Location", type: "String", value: str(g.location) },
        { name: "Excluded", type: "Boolean", value: g.excluded },
        { name: ACTION_METRIC, type: "String", value: "" },
        { name: LAST_ACTION_METRIC, type: "String", value: i.lastActions.get(g.id) ?? null },
      ],
    });
  }
  for (const m of i.devices.meters) {
    out.push({
      deviceId: m.id,
      kind: "meter",
      metrics: [
        { name: "Class", type: "String", value: "meter" },
        { name: "Role", type: "String", value: m.role },
        { name: "OK", type: "Boolean", value: m.ok },
        { name: "Power W", type: "Double", value: num(m.powerW), deadband: w },
        { name: "Age S", type: "Double", value: m.ageS, deadband: AGE_DEADBAND_S },
        { name: "Reason", type: "String", value: m.reason },
      ],
    });
  }
  return out;
}

/**
 * Aliases, unique across the node and its devices (Sparkplug: per edge node),
 * given in order of first use and kept for the life of the process, so a
 * rebirth republishes the same ones. Also maps an alias back, for commands.
 */
export class Aliases {
  private readonly byKey = new Map<string, number>();
  private readonly byAlias = new Map<number, { deviceId: string | null; name: string }>();
  private next = 1;

  of(deviceId: string | null, name: string): number {
    const key = `${deviceId ?? ""}\u0000${name}`;
    let a = this.byKey.get(key);
    if (a === undefined) {
      a = this.next++;
      this.byKey.set(key, a);
      this.byAlias.set(a, { deviceId, name });
    }
    return a;
  }

  lookup(alias: number): { deviceId: string | null; name: string } | undefined {
    return this.byAlias.get(alias);
  }
}
