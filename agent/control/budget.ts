// Budget sources → the effective budget, and the economic cut. Pure: `now` is
// an argument; schedule windows are read in the site's IANA time zone.
import type { ControlConfig, ScheduleWindow, SiteConfig } from "../../config/schema.ts";
import type { Budget, BudgetLease, BudgetSource } from "./types.ts";

export interface BudgetInputs {
  /** The remote override (`budget/set`); ignored once expired. */
  lease?: BudgetLease | null;
  /** The site meter is stale (or absent)… */
  meterStale?: boolean;
  /** …and device reports give an estimate of P. Failsafe when stale without one. */
  hasEstimate?: boolean;
  /** The economic cut as a budget (economicBudget); null when prices are unknown. */
  economic?: { watts: number; reason: string } | null;
  /** Whether a site meter is configured at all (default true): the failsafe's reason says which. */
  siteMeter?: boolean;
  /** Grid signals in force, each as a budget (signalSources). */
  signals?: ReadonlyArray<{ watts: number; reason: string }>;
}

export interface BudgetConfig {
  site: Pick<SiteConfig["site"], "timezone" | "contractLimitW">;
  control: Pick<ControlConfig, "schedule" | "failsafeBudgetW"> &
    Partial<Pick<ControlConfig, "programs" | "rampDownWPerMin">>;
}

type Window = WindowTimes & { name: string; budgetW: number };

/** "HH:MM" → minutes since midnight. */
function minuteOf(t: string): number {
  const [h, m] = t.split(":");
  return Number(h) * 60 + Number(m);
}

/** The schedule's windows and the 4CP / 12CP programs' peak windows, all alike. */
export function budgetWindows(control: BudgetConfig["control"]): Window[] {
  const out: Window[] = [...control.schedule];
  for (const p of control.programs ?? []) {
    if (p.kind === "4cp" || p.kind === "12cp") {
      out.push({
        name: p.name,
        months: p.months,
        days: p.days,
        fromMinute: minuteOf(p.from),
        toMinute: minuteOf(p.to),
        budgetW: p.budgetW,
      });
    }
  }
  return out;
}

const DAY_NAMES = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
type Day = (typeof DAY_NAMES)[number];

export interface LocalTime {
  /** 1–12 */
  month: number;
  /** 1–31 */
  day: number;
  weekday: Day;
  /** 0–1439 */
  minute: number;
}

// Formatters are costly to build; one per zone, reused (a cache, not state the result depends on).
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      weekday: "short",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The wall-clock time at `now` in `timeZone`. */
export function localTime(now: number, timeZone: string): LocalTime {
  let month = 1;
  let day = 1;
  let weekday: Day = "mon";
  let hour = 0;
  let minute = 0;
  for (const p of formatter(timeZone).formatToParts(now)) {
    if (p.type === "month") month = Number(p.value);
    else if (p.type === "day") day = Number(p.value);
    else if (p.type === "hour") hour = Number(p.value) % 24;
    else if (p.type === "minute") minute = Number(p.value);
    else if (p.type === "weekday") weekday = p.value.slice(0, 3).toLowerCase() as Day;
  }
  return { month, day, weekday, minute: hour * 60 + minute };
}

type WindowTimes = Pick<ScheduleWindow, "months" | "days" | "fromMinute" | "toMinute">;

/**
 * Whether a window is active at local time `t`. `to` is exclusive. A window that
 * crosses midnight (to < from) belongs to the day it starts on: its months and
 * days are checked against that day, also for the part after midnight.
 */
export function windowActive(w: WindowTimes, t: LocalTime): boolean {
  const { fromMinute: from, toMinute: to } = w;
  if (from < to) {
    return t.minute >= from && t.minute < to && w.months.includes(t.month) && w.days.includes(t.weekday);
  }
  if (t.minute >= from) return w.months.includes(t.month) && w.days.includes(t.weekday);
  if (t.minute < to) {
    // after midnight: the window started yesterday
    const yesterday = DAY_NAMES[(DAY_NAMES.indexOf(t.weekday) + 6) % 7]!;
    const yMonth = t.day === 1 ? ((t.month + 10) % 12) + 1 : t.month;
    return w.months.includes(yMonth) && w.days.includes(yesterday);
  }
  return false;
}

/** How far ahead a window's ramp down may start (a window further off needs no slope yet). */
const PRE_RAMP_HORIZON_MIN = 240;

/**
 * A window announced ahead (control.rampDownWPerMin): a budget that falls at the ramp-down rate
 * to reach the window's budget as it starts, so the site gets there as a slope rather than a
 * cliff at the start. Null when the window is active already, not within reach of the ramp
 * from `ceilingW`, or not starting within the horizon.
 */
interface PreRampInput {
  w: Window;
  rampDownWPerMin: number;
  ceilingW: number;
  timeZone: string;
  now: number;
}

function preRamp({ w, rampDownWPerMin, ceilingW, timeZone, now }: PreRampInput): BudgetSource | null {
  if (w.budgetW >= ceilingW) return null;
  if (windowActive(w, localTime(now, timeZone))) return null;
  const reachMin = Math.min(PRE_RAMP_HORIZON_MIN, Math.ceil((ceilingW - w.budgetW) / rampDownWPerMin));
  const minuteStart = now - (now % 60_000);
  for (let m = 1; m <= reachMin; m++) {
    const startAt = minuteStart + m * 60_000;
    if (!windowActive(w, localTime(startAt, timeZone))) continue;
    const watts = Math.floor(w.budgetW + (rampDownWPerMin * (startAt - now)) / 60_000);
    if (watts >= ceilingW) return null;
    const hhmm = `${String(Math.floor(w.fromMinute / 60)).padStart(2, "0")}:${String(w.fromMinute % 60).padStart(2, "0")}`;
    return { kind: "schedule", watts, reason: `${w.name} from ${hhmm}: ramping down ahead` };
  }
  return null;
}

/**
 * The effective budget: the minimum of the active sources (contract limit,
 * unexpired lease, active schedule windows, failsafe), with its reason. On a
 * tie the first listed source names the reason. A reason never repeats its
 * source's name: people see them side by side ("failsafe: meter stale, …").
 */
/** The contract's reason when nothing lower is in force. */
export const CONTRACT_REASON = "no lower limit in force";

export function effectiveBudget(inputs: BudgetInputs, config: BudgetConfig, now: number): Budget {
  const sources: BudgetSource[] = [
    { kind: "contract", watts: config.site.contractLimitW, reason: CONTRACT_REASON },
  ];
  const lease = inputs.lease;
  if (lease && now < lease.expiresAt) {
    sources.push({ kind: "lease", watts: lease.watts, reason: lease.reason });
  }
  const windows = budgetWindows(config.control);
  if (windows.length > 0) {
    const t = localTime(now, config.site.timezone);
    for (const w of windows) {
      if (windowActive(w, t)) sources.push({ kind: "schedule", watts: w.budgetW, reason: w.name });
    }
    const rampDown = config.control.rampDownWPerMin;
    if (rampDown != null) {
      const ceilingW = Math.min(...sources.map((s) => s.watts));
      for (const w of windows) {
        const ahead = preRamp({
          w,
          rampDownWPerMin: rampDown,
          ceilingW,
          timeZone: config.site.timezone,
          now,
        });
        if (ahead) sources.push(ahead);
      }
    }
  }
  if (inputs.economic) {
    sources.push({ kind: "economic", watts: inputs.economic.watts, reason: inputs.economic.reason });
  }
  for (const s of inputs.signals ?? []) sources.push({ kind: "signal", watts: s.watts, reason: s.reason });
  if (inputs.meterStale && !inputs.hasEstimate) {
    sources.push({
      kind: "failsafe",
      watts: config.control.failsafeBudgetW,
      reason:
        inputs.siteMeter === false
          ? "no site meter and no device estimate"
          : "site meter stale and no device estimate",
    });
  }
  let best = sources[0]!;
  for (const s of sources) if (s.watts < best.watts) best = s;
  return { budgetW: best.watts, reason: best.reason, source: best.kind, sources };
}

// ---------------------------------------------------------------- economic cut

export interface Prices {
  /** ¤ per kWh (may be negative); null = unknown. */
  energyPricePerKwh: number | null;
  /** ¤ per TH/s per day; null = unknown. */
  hashpricePerThDay: number | null;
}

export interface EconomicMiner {
  id: string;
  powerW: number | null;
  hashrateThs: number | null;
}

export interface UneconomicMiner {
  id: string;
  revenuePerH: number;
  costPerH: number;
}

/**
 * Miners whose revenue per hour (hashrateThs × hashprice / 24) is below their
 * energy cost per hour (powerW / 1000 × price). Empty unless both prices are
 * known; miners with unknown power or hashrate are not judged. Sorted by id.
 */
export function economicCut(miners: readonly EconomicMiner[], prices: Prices): UneconomicMiner[] {
  const { energyPricePerKwh: price, hashpricePerThDay: hashprice } = prices;
  if (price === null || hashprice === null) return [];
  const out: UneconomicMiner[] = [];
  for (const m of miners) {
    if (m.powerW === null || m.hashrateThs === null || m.powerW <= 0) continue;
    const revenuePerH = (m.hashrateThs * hashprice) / 24;
    const costPerH = (m.powerW / 1000) * price;
    if (revenuePerH < costPerH) out.push({ id: m.id, revenuePerH, costPerH });
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** The energy price above which a miner of this efficiency (J/TH) earns less than it costs, ¤/kWh. */
export function breakEvenPricePerKwh(efficiencyJPerTh: number, hashpricePerThDay: number): number {
  // revenue/h per kW = hashprice / 24 / (J/TH / 1000)  (1 TH/s at e J/TH draws e W)
  return (hashpricePerThDay / 24) * (1000 / efficiencyJPerTh);
}

/**
 * The economic cut as a budget source: the site's power as it would be with
 * every money-losing miner asleep and every money-making miner the agent slept
 * running again. Whether a miner pays depends only on its J/TH at given prices,
 * so the policy's own order (worst J/TH first to shed, best first to wake)
 * reaches exactly that set. The shed margin is added back so the plan sheds
 * the losing miners and no more, and holds (neither sheds nor wakes) while
 * losing miners sleep. Null when nothing is at stake or a price (or P) is unknown.
 */
export interface EconomicInputs {
  powerW: number | null;
  running: readonly EconomicMiner[];
  sleptByAgent: ReadonlyArray<{ id: string; sleptPowerW: number | null; efficiencyJPerTh: number | null }>;
  prices: Prices;
  shedMarginW: number;
}

export function economicBudget({
  powerW,
  running,
  sleptByAgent,
  prices,
  shedMarginW,
}: EconomicInputs): { watts: number; reason: string } | null {
  const { energyPricePerKwh: price, hashpricePerThDay: hashprice } = prices;
  if (powerW === null || price === null || hashprice === null) return null;
  const losing = economicCut(running, prices);
  let losingW = 0;
  for (const m of losing) losingW += running.find((r) => r.id === m.id)?.powerW ?? 0;
  let payingW = 0;
  let asleepLosing = 0;
  for (const m of sleptByAgent) {
    if (m.sleptPowerW === null || m.efficiencyJPerTh === null || m.efficiencyJPerTh <= 0) continue;
    if (breakEvenPricePerKwh(m.efficiencyJPerTh, hashprice) > price) payingW += m.sleptPowerW;
    else asleepLosing++;
  }
  if (losing.length === 0 && asleepLosing === 0) return null;
  // rounded up: rounded down, the plan would need a few watts more than the losing miners draw and shed one more
  const watts = Math.max(0, Math.ceil(powerW + shedMarginW - losingW + payingW));
  const n = losing.length + asleepLosing;
  return {
    watts,
    reason: `${n} miner${n === 1 ? "" : "s"} lose money at ${price}/kWh (hashprice ${hashprice}/TH/day)`,
  };
}
