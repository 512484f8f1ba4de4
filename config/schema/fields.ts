// Field builders shared by every section schema: powers and durations with
// units, ids, ports, host names and "host:port" pairs, and the helpers that word
// their error messages. Section schemas are built from these so that the same
// kind of value is accepted, and refused, the same way everywhere.
import { z } from "zod";
import { isHost } from "../hosts.ts";
import { parseDurationS, parsePowerW } from "../units.ts";

export function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return String(v);
}

/** Optional in the file, null (never undefined) in the parsed config. */
export function optNull<T extends z.ZodType>(schema: T) {
  return schema
    .optional()
    .transform((v): z.output<T> | null => (v === undefined ? null : (v as z.output<T>)));
}

// ---------------------------------------------------------------- units

export const POWER_HELP = 'watts, or a string with a unit: "350 W", "3.5kW", "24MW", "1.2GW"';
export const DURATION_HELP = 'seconds, or a string with a unit: "500ms", "30s", "5m", "2h"';

function powerInput() {
  return z.union([z.number(), z.string()], {
    error: (iss) => `expected a power like 3500, "3.5kW" or "24MW", got ${show(iss.input)}`,
  });
}

function toWatts(opts: { positive?: boolean }) {
  return (v: number | string, ctx: z.core.$RefinementCtx<number | string>): number => {
    let w: number;
    try {
      w = parsePowerW(v);
    } catch (e) {
      ctx.issues.push({ code: "custom", message: (e as Error).message, input: v });
      return z.NEVER;
    }
    // A negative power is a sign error in every place the config takes one.
    if (w < 0) {
      ctx.issues.push({ code: "custom", message: `must not be negative, got ${show(v)}`, input: v });
      return z.NEVER;
    }
    if (opts.positive && w === 0) {
      ctx.issues.push({ code: "custom", message: "must be greater than 0", input: v });
      return z.NEVER;
    }
    return w;
  };
}

/** A required power in watts (≥ 0, or > 0 with positive). */
export function power(opts: { positive?: boolean } = {}) {
  return powerInput().transform(toWatts(opts));
}

/** A power with a default (written as the user would, e.g. "50kW"). */
export function powerDefault(def: number | string, opts: { positive?: boolean } = {}) {
  return powerInput().default(def).transform(toWatts(opts));
}

function durationInput() {
  return z.union([z.number(), z.string()], {
    error: (iss) => `expected a duration like 30, "30s", "5m", "2h" or "500ms", got ${show(iss.input)}`,
  });
}

function toSeconds(opts: { min?: number; max?: number; positive?: boolean }) {
  return (v: number | string, ctx: z.core.$RefinementCtx<number | string>): number => {
    let s: number;
    try {
      s = parseDurationS(v);
    } catch (e) {
      ctx.issues.push({ code: "custom", message: (e as Error).message, input: v });
      return z.NEVER;
    }
    const min = opts.min ?? 0;
    if (s < min) {
      ctx.issues.push({ code: "custom", message: `must be at least ${min} s, got ${show(v)}`, input: v });
      return z.NEVER;
    }
    if (opts.positive && s === 0) {
      ctx.issues.push({ code: "custom", message: "must be greater than 0", input: v });
      return z.NEVER;
    }
    if (opts.max !== undefined && s > opts.max) {
      ctx.issues.push({ code: "custom", message: `must be at most ${opts.max} s, got ${show(v)}`, input: v });
      return z.NEVER;
    }
    return s;
  };
}

/** A required duration in seconds. */
export function duration(opts: { min?: number; max?: number; positive?: boolean } = {}) {
  return durationInput().transform(toSeconds(opts));
}

/** A duration in seconds with a default. */
export function durationDefault(
  def: number | string,
  opts: { min?: number; max?: number; positive?: boolean } = {},
) {
  return durationInput().default(def).transform(toSeconds(opts));
}

// ---------------------------------------------------------------- small shared pieces

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
export const IdSchema = z
  .string()
  .regex(ID_RE, {
    error: (iss) => `expected an id of letters, digits, ".", "_" or "-", got ${show(iss.input)}`,
  })
  .max(128);

export const PortSchema = z.number().int().min(1).max(65535);
export const PrioritySchema = z
  .number()
  .int()
  .default(0)
  .describe("Higher priority = kept running longer: the loop sheds the lowest priority first");
export const LocationSchema = z.string().min(1).describe("Free text, e.g. container-B/rack-3/slot-7");
export const FileSchema = z.string().min(1);

export const HostSchema = z.string().refine(isHost, {
  error: (iss) => `expected an IPv4 address or a host name, got ${show(iss.input)}`,
});

export interface HostPort {
  host: string;
  port: number;
}

/** Parses "host:port" (or "[v6]:port"); the port may be left out where a default exists. */
export function parseHostPort(v: string, defaultPort: number | null): HostPort | null {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s[\]]+))(?::(\d{1,5}))?$/.exec(v.trim());
  const host = m?.[1] ?? m?.[2];
  const port = m?.[3] !== undefined ? Number(m[3]) : defaultPort;
  if (!m || host === undefined || port === null || port < 1 || port > 65535) return null;
  if (!m[1] && !isHost(host)) return null;
  return { host, port };
}

export function hostPortMessage(v: unknown, defaultPort: number | null): string {
  return `expected "host:port" like "10.0.0.5:${defaultPort ?? 8080}", got ${show(v)}`;
}

export function hostPort(defaultPort: number | null) {
  return (v: string, ctx: z.core.$RefinementCtx<string>): HostPort => {
    const hp = parseHostPort(v, defaultPort);
    if (hp) return hp;
    ctx.issues.push({ code: "custom", message: hostPortMessage(v, defaultPort), input: v });
    return z.NEVER;
  };
}
