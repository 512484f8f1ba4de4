// Turns zod issues into problems: an error map that words them the way a site
// config's author would, "did you mean" hints for unknown keys, and parseWith,
// which checks a value and files its issues under the value's path.
import type { z } from "zod";
import { formatPath, type PathPart, type Problem, show } from "./problems.ts";

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0] as number;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j] as number;
      d[j] = Math.min(cur + 1, (d[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length] as number;
}

export function unknownKeyMessage(key: string, known: string[]): string {
  const lower = key.toLowerCase();
  const close = known
    .map((k) => ({
      k,
      d:
        k.toLowerCase().startsWith(lower) || lower.startsWith(k.toLowerCase())
          ? 0
          : editDistance(lower, k.toLowerCase()),
    }))
    .filter((c) => c.d <= Math.max(2, Math.floor(key.length / 3)))
    .sort((a, b) => a.d - b.d)[0];
  if (close) return `unknown key (did you mean ${close.k}?)`;
  return known.length > 0 ? `unknown key; expected one of: ${known.join(", ")}` : "unknown key";
}

/**
 * Per-parse messages, in the words a site config's author uses. Schema-specific
 * messages (units, formats) take precedence over these.
 */
const errorMap: z.core.$ZodErrorMap = (iss) => {
  switch (iss.code) {
    case "invalid_type":
      if (iss.input === undefined) return "is required";
      if (iss.expected === "int") return `expected an integer, got ${show(iss.input)}`;
      return `expected ${iss.expected === "array" ? "a list" : iss.expected === "object" ? "a mapping" : iss.expected}, got ${show(iss.input)}`;
    case "too_small": {
      const min = Number(iss.minimum);
      if (iss.origin === "array") return `must have at least ${min} item${min === 1 ? "" : "s"}`;
      if (iss.origin === "string")
        return min === 1 ? "must not be empty" : `must be at least ${min} characters`;
      return `must be ${iss.inclusive ? "at least" : "greater than"} ${min}, got ${show(iss.input)}`;
    }
    case "too_big": {
      const max = Number(iss.maximum);
      if (iss.origin === "array") return `must have at most ${max} items`;
      if (iss.origin === "string") return `must be at most ${max} characters`;
      return `must be ${iss.inclusive ? "at most" : "less than"} ${max}, got ${show(iss.input)}`;
    }
    case "invalid_value":
      return `expected ${iss.values.length === 1 ? show(iss.values[0]) : `one of ${iss.values.map((v) => String(v)).join(", ")}`}, got ${show(iss.input)}`;
    case "not_multiple_of":
      return `must be a multiple of ${String(iss.divisor)}`;
    case "unrecognized_keys": {
      const shape = (iss.inst as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined)?._zod
        ?.def?.shape;
      const known = Object.keys(shape ?? {});
      // One line per key; toProblems splits them back apart.
      return iss.keys.map((k) => unknownKeyMessage(k, known)).join("\n");
    }
    case "invalid_key":
      return `unknown key ${show(iss.input)}`;
    case "invalid_format":
      return `has the wrong format, got ${show(iss.input)}`;
    default:
      return undefined;
  }
};

function toProblems(issues: readonly z.core.$ZodIssue[], prefix: PathPart[]): Problem[] {
  const out: Problem[] = [];
  for (const iss of issues) {
    const path = [...prefix, ...iss.path];
    if (iss.code === "unrecognized_keys") {
      const lines = iss.message.split("\n");
      iss.keys.forEach((k, i) => {
        out.push({ path: formatPath([...path, k]), message: lines[i] ?? lines[0] ?? "unknown key" });
      });
    } else if (iss.code === "invalid_key" && iss.path.length > 0) {
      out.push({ path: formatPath(path), message: "unknown key" });
    } else {
      out.push({ path: formatPath(path), message: iss.message });
    }
  }
  return out;
}

/** Parses `value`; its problems, placed under `at`, are added to `problems` (null then). */
export function parseWith<S extends z.ZodType>(
  schema: S,
  value: unknown,
  { at: prefix, problems }: { at: PathPart[]; problems: Problem[] },
): z.output<S> | null {
  const r = schema.safeParse(value, { error: errorMap });
  if (r.success) return r.data;
  problems.push(...toProblems(r.error.issues, prefix));
  return null;
}
