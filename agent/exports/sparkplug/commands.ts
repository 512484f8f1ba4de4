// NCMD and DCMD → the site's intents (pure). `Node Control/Rebirth` is always
// honoured: it asks for births, not for a change of the site. Every other
// write is refused unless exports.sparkplug.acceptCommands is on, and then
// only the metrics the births offer as writable are taken, each validated
// with the same zod schemas the page and the MQTT commands use.
import { z } from "zod";
import {
  type Actor,
  BudgetSetSchema,
  type DeviceAction,
  DeviceActionSchema,
  ModeSetSchema,
} from "../../control/intents.ts";
import type { ControlMode } from "../../control/loop.ts";
import {
  ACTION_METRIC,
  type Aliases,
  type DeviceKind,
  LEASE_CLEAR_METRIC,
  LEASE_TTL_METRIC,
  LEASE_W_METRIC,
  MODE_METRIC,
  REBIRTH_METRIC,
} from "./metrics.ts";

/** The device actions a SCADA may write to Control/Action (power limits and reboots stay with the page). */
const SPARKPLUG_ACTIONS = ["sleep", "wake", "exclude", "include"] as const;
const SparkplugActionSchema = z.enum(SPARKPLUG_ACTIONS);

/** A metric of a decoded command payload: by name, or by alias (a Long when 64-bit). */
export interface IncomingMetric {
  name?: string | null;
  alias?: number | { toNumber(): number } | null;
  value?: unknown;
}

export type SparkplugIntent =
  | { kind: "rebirth" }
  | { kind: "mode"; mode: ControlMode }
  | { kind: "lease"; watts: number; ttlS: number; reason: string }
  | { kind: "lease-clear" }
  | { kind: "device"; req: DeviceAction };

type RefusalCode = "commands-off" | "unknown-metric" | "unknown-device" | "not-writable" | "invalid";

export interface Refusal {
  code: RefusalCode;
  /** The metric as named in the command (or "alias <n>"). */
  metric: string;
  error: string;
}

export interface CommandContext {
  acceptCommands: boolean;
  aliases: Aliases;
  /** The configured devices this node births, by id. */
  devices: ReadonlyMap<string, DeviceKind>;
  actor: Actor;
}

export type Target = { kind: "NCMD" } | { kind: "DCMD"; deviceId: string };

const toNumber = (v: unknown): unknown =>
  v !== null && typeof v === "object" && "toNumber" in v && typeof v.toNumber === "function"
    ? (v as { toNumber(): number }).toNumber()
    : v;

const issue = (e: z.ZodError): string => e.issues.map((i) => i.message).join("; ");

/** What a command asks for: the intents to apply, and what is refused (with why). */
export function readCommand(
  target: Target,
  metrics: readonly IncomingMetric[],
  ctx: CommandContext,
): { intents: SparkplugIntent[]; refusals: Refusal[] } {
  const intents: SparkplugIntent[] = [];
  const refusals: Refusal[] = [];
  const deviceId = target.kind === "DCMD" ? target.deviceId : null;
  if (deviceId !== null && !ctx.devices.has(deviceId)) {
    return {
      intents,
      refusals: [{ code: "unknown-device", metric: deviceId, error: `no device "${deviceId}" on this node` }],
    };
  }
  // resolve every metric to its name (by alias when the name is left out, as hosts may)
  const named: Array<{ name: string; value: unknown }> = [];
  for (const m of metrics) {
    if (typeof m.name === "string" && m.name.length > 0) {
      named.push({ name: m.name, value: toNumber(m.value) });
      continue;
    }
    const alias = toNumber(m.alias);
    const hit = typeof alias === "number" ? ctx.aliases.lookup(alias) : undefined;
    if (!hit || hit.deviceId !== deviceId) {
      refusals.push({
        code: "unknown-metric",
        metric: `alias ${String(alias)}`,
        error: "no such alias on this node/device",
      });
      continue;
    }
    named.push({ name: hit.name, value: toNumber(m.value) });
  }

  let leaseW: { value: unknown } | null = null;
  let leaseTtl: { value: unknown } | null = null;
  for (const { name, value } of named) {
    if (deviceId === null && name === REBIRTH_METRIC) {
      if (typeof value !== "boolean") {
        refusals.push({ code: "invalid", metric: name, error: "expected a Boolean" });
      } else if (value) intents.push({ kind: "rebirth" });
      continue;
    }
    if (!ctx.acceptCommands) {
      refusals.push({
        code: "commands-off",
        metric: name,
        error: "commands are off on this edge node (exports.sparkplug.acceptCommands: false)",
      });
      continue;
    }
    if (deviceId === null) {
      if (name === MODE_METRIC) {
        const r = ModeSetSchema.safeParse({ mode: value });
        if (r.success) intents.push({ kind: "mode", mode: r.data.mode });
        else refusals.push({ code: "invalid", metric: name, error: issue(r.error) });
      } else if (name === LEASE_W_METRIC) leaseW = { value };
      else if (name === LEASE_TTL_METRIC) leaseTtl = { value };
      else if (name === LEASE_CLEAR_METRIC) {
        if (value === true) intents.push({ kind: "lease-clear" });
        else if (value !== false)
          refusals.push({ code: "invalid", metric: name, error: "expected a Boolean" });
      } else refusals.push({ code: "not-writable", metric: name, error: "not a writable node metric" });
      continue;
    }
    if (name !== ACTION_METRIC) {
      refusals.push({ code: "not-writable", metric: name, error: "not a writable device metric" });
      continue;
    }
    if (ctx.devices.get(deviceId) === "meter") {
      refusals.push({ code: "not-writable", metric: name, error: "a meter takes no actions" });
      continue;
    }
    const action = SparkplugActionSchema.safeParse(value);
    if (!action.success) {
      refusals.push({
        code: "invalid",
        metric: name,
        error: `expected one of ${SPARKPLUG_ACTIONS.join(", ")}, got ${JSON.stringify(value)}`,
      });
      continue;
    }
    const req = DeviceActionSchema.safeParse({
      id: deviceId,
      action: action.data,
      reason: `Sparkplug DCMD by ${ctx.actor.who}`,
    });
    if (req.success) intents.push({ kind: "device", req: req.data });
    else refusals.push({ code: "invalid", metric: name, error: issue(req.error) });
  }
  if (leaseW || leaseTtl) {
    if (!leaseW || !leaseTtl) {
      refusals.push({
        code: "invalid",
        metric: leaseW ? LEASE_W_METRIC : LEASE_TTL_METRIC,
        error: `${LEASE_W_METRIC} and ${LEASE_TTL_METRIC} go together in one NCMD`,
      });
    } else {
      const r = BudgetSetSchema.safeParse({
        watts: leaseW.value,
        ttlS: leaseTtl.value,
        reason: `Sparkplug NCMD by ${ctx.actor.who}`,
      });
      if (r.success) intents.push({ kind: "lease", ...r.data });
      else refusals.push({ code: "invalid", metric: LEASE_W_METRIC, error: issue(r.error) });
    }
  }
  return { intents, refusals };
}
