// Pure parsing of nvidia-smi output: the field list we query, CSV rows parsed
// by position (nvidia-smi renames header text between drivers, never the order
// we asked for), placeholders turned into null with a reason, and exit codes
// turned into node faults. No I/O here, so all of it is unit-tested on text.
import type { GpuDetail, GpuHealth, GpuReading } from "./types.ts";

type NumericKey = Exclude<keyof GpuReading, "uuid" | "name" | "pstate" | "busy" | "index">;

interface FieldSpec {
  /** Our name (GpuReading key). */
  key: keyof GpuReading;
  /** nvidia-smi names, most widely supported first; the first one the driver lists is used. */
  names: readonly string[];
  kind: "int" | "number" | "string";
}

/** The documented `--query-gpu` properties we read (see `nvidia-smi --help-query-gpu`). */
const GPU_FIELDS: readonly FieldSpec[] = [
  { key: "index", names: ["index"], kind: "int" },
  { key: "uuid", names: ["uuid", "gpu_uuid"], kind: "string" },
  { key: "name", names: ["name", "gpu_name"], kind: "string" },
  { key: "powerW", names: ["power.draw"], kind: "number" },
  { key: "powerLimitW", names: ["power.limit"], kind: "number" },
  { key: "enforcedPowerLimitW", names: ["enforced.power.limit"], kind: "number" },
  { key: "minPowerLimitW", names: ["power.min_limit"], kind: "number" },
  { key: "maxPowerLimitW", names: ["power.max_limit"], kind: "number" },
  { key: "defaultPowerLimitW", names: ["power.default_limit"], kind: "number" },
  { key: "tempC", names: ["temperature.gpu"], kind: "number" },
  { key: "memTempC", names: ["temperature.memory"], kind: "number" },
  { key: "utilPct", names: ["utilization.gpu"], kind: "number" },
  { key: "memUsedMiB", names: ["memory.used"], kind: "number" },
  { key: "memTotalMiB", names: ["memory.total"], kind: "number" },
  { key: "smClockMHz", names: ["clocks.sm", "clocks.current.sm"], kind: "number" },
  { key: "fanPct", names: ["fan.speed"], kind: "number" },
  { key: "pstate", names: ["pstate"], kind: "string" },
  { key: "eccUncorrected", names: ["ecc.errors.uncorrected.volatile.total"], kind: "int" },
];

/** Fields without which a row cannot be attributed to a GPU: never left out. */
const REQUIRED_FIELDS = new Set<keyof GpuReading>(["index", "uuid"]);

/** Fields a power-limit write needs (bounds, default, confirmation). */
export const LIMIT_FIELDS: readonly (keyof GpuReading)[] = [
  "powerLimitW",
  "enforcedPowerLimitW",
  "minPowerLimitW",
  "maxPowerLimitW",
  "defaultPowerLimitW",
];

export interface QueryPlan {
  /** The fields queried, in order: column i of each row is fields[i]. */
  fields: { spec: FieldSpec; name: string }[];
  /** Our fields left out because the driver does not list them. */
  omitted: (keyof GpuReading)[];
}

/**
 * Picks the nvidia-smi name of each field from the driver's supported set
 * (`--help-query-gpu`); null means "unknown, query the first name of each".
 */
export function planQuery(supported: ReadonlySet<string> | null, exclude: ReadonlySet<string> = new Set()) {
  const plan: QueryPlan = { fields: [], omitted: [] };
  for (const spec of GPU_FIELDS) {
    const names = spec.names.filter((n) => !exclude.has(n));
    const name = supported === null ? names[0] : names.find((n) => supported.has(n));
    if (name === undefined && !REQUIRED_FIELDS.has(spec.key)) plan.omitted.push(spec.key);
    else plan.fields.push({ spec, name: name ?? spec.names[0]! });
  }
  return plan;
}

/** The argument list of the query (no shell quoting needed: names are [a-z0-9._]). */
export function queryArgs(plan: QueryPlan, index?: number): string[] {
  const args = [`--query-gpu=${plan.fields.map((f) => f.name).join(",")}`, "--format=csv,noheader,nounits"];
  return index === undefined ? args : ["-i", String(index), ...args];
}

export const COMPUTE_APPS_ARGS = ["--query-compute-apps=gpu_uuid,pid", "--format=csv,noheader,nounits"];

/**
 * The property names `nvidia-smi --help-query-gpu` lists: lines made only of
 * quoted names, `"name" or "gpu_name"`. Null when the text lists none.
 */
export function parseHelpQueryGpu(text: string): Set<string> | null {
  const names = new Set<string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!/^"[^"]+"(\s+or\s+"[^"]+")*$/.test(line)) continue;
    for (const m of line.matchAll(/"([^"]+)"/g)) names.add(ownCopy(m[1]!));
  }
  return names.size > 0 ? names : null;
}

/**
 * A string of its own. V8 makes a substring of 13 characters or more a view into the string
 * it was cut from, which it then keeps whole: the set, kept per node for the connection's life,
 * held the whole help text (a paragraph per property) of every GPU node.
 */
function ownCopy(s: string): string {
  return Buffer.from(s, "utf8").toString("utf8");
}

/** `Field "x" is not a valid field to query.` → "x" (one unknown field fails the whole query). */
export function invalidField(text: string): string | null {
  return /Field "([^"]+)" is not a valid field to query/.exec(text)?.[1] ?? null;
}

const LOST = /^\[GPU is lost\]$/i;
const RESET = /^\[GPU requires reset\]$/i;

/** A cell that is not a value: `[N/A]`, `[Not Supported]`, deprecation notices, plain `N/A`. */
function placeholder(cell: string): string | null {
  if (cell.startsWith("[") && cell.endsWith("]")) return cell;
  if (cell === "N/A" || cell === "") return cell === "" ? "empty" : "N/A";
  return null;
}

export interface ParsedGpus {
  gpus: GpuDetail[];
  /** Rows that could not be used, with why (wrong width). */
  rejected: string[];
}

function emptyGpu(): GpuDetail {
  return {
    index: null,
    uuid: null,
    name: null,
    powerW: null,
    powerLimitW: null,
    enforcedPowerLimitW: null,
    minPowerLimitW: null,
    maxPowerLimitW: null,
    defaultPowerLimitW: null,
    tempC: null,
    memTempC: null,
    utilPct: null,
    memUsedMiB: null,
    memTotalMiB: null,
    smClockMHz: null,
    fanPct: null,
    pstate: null,
    eccUncorrected: null,
    busy: null,
    health: "ok",
    nullReasons: {},
  };
}

/**
 * Parses `--format=csv,noheader,nounits` output by position against the plan.
 * Cells are separated by ", " and never quoted; GPU names hold no commas, so a
 * row of the wrong width is rejected rather than guessed at.
 */
export function parseGpuCsv(text: string, plan: QueryPlan): ParsedGpus {
  const out: ParsedGpus = { gpus: [], rejected: [] };
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === "") continue;
    const cells = line.split(",").map((c) => c.trim());
    if (cells.length !== plan.fields.length) {
      out.rejected.push(`expected ${plan.fields.length} cells, got ${cells.length}: ${line.slice(0, 120)}`);
      continue;
    }
    const gpu = emptyGpu();
    let health: GpuHealth = "ok";
    plan.fields.forEach(({ spec }, i) => {
      const cell = cells[i]!;
      if (LOST.test(cell)) health = "lost";
      else if (RESET.test(cell) && health === "ok") health = "reset-required";
      const ph = placeholder(cell);
      if (ph !== null) {
        gpu.nullReasons[spec.key] = ph;
        return;
      }
      if (spec.kind === "string") {
        (gpu as unknown as Record<string, unknown>)[spec.key] = cell;
        return;
      }
      const n = /^-?\d+(\.\d+)?$/.test(cell) ? Number(cell) : Number.NaN;
      if (!Number.isFinite(n) || (spec.kind === "int" && !Number.isInteger(n))) {
        gpu.nullReasons[spec.key] = `unparseable: ${cell.slice(0, 40)}`;
        return;
      }
      (gpu as unknown as Record<NumericKey | "index", number>)[spec.key as NumericKey] = n;
    });
    gpu.health = health;
    out.gpus.push(gpu);
  }
  return out;
}

/** Marks the fields left out of the query as null with the reason. */
export function markOmitted(gpus: GpuDetail[], omitted: readonly (keyof GpuReading)[]): void {
  for (const g of gpus)
    for (const k of omitted) g.nullReasons[k] ??= "not queried: unsupported by this driver";
}

/** GPU UUIDs with at least one compute process (`--query-compute-apps=gpu_uuid,pid`). */
export function parseComputeApps(text: string): Set<string> {
  const busy = new Set<string>();
  for (const line of text.split(/\r?\n/)) {
    const uuid = line.split(",")[0]?.trim();
    if (uuid && !uuid.startsWith("[") && !/no running/i.test(uuid)) busy.add(uuid);
  }
  return busy;
}

/** nvidia-smi exit codes (man page; 18 from the field) → why the node is faulted. */
const EXIT_REASONS: Record<number, string> = {
  2: "invalid argument or field",
  3: "operation not supported",
  4: "insufficient permissions",
  6: "no devices found",
  8: "external power cables not attached",
  9: "NVIDIA driver not loaded",
  10: "kernel interrupt problem with a GPU",
  12: "NVML shared library not found",
  13: "NVML function not implemented",
  14: "infoROM corrupted",
  15: "GPU fell off the bus",
  18: "driver/library version mismatch",
  124: "timed out on the node (timeout)",
  126: "nvidia-smi not executable",
  127: "nvidia-smi not found",
  137: "killed on the node after its timeout",
  255: "nvidia-smi failed",
};

/** One line explaining a failed nvidia-smi: the code's meaning plus the first line it printed. */
export function exitReason(code: number | null, stdout: string, stderr: string): string {
  const meaning = code === null ? "no exit status" : (EXIT_REASONS[code] ?? "nvidia-smi failed");
  const said = firstLine(stderr) || firstLine(stdout);
  return `nvidia-smi exit ${code ?? "?"} (${meaning})${said ? `: ${said}` : ""}`;
}

/** The first non-blank line of a command's output, trimmed, at most 200 characters. */
export function firstLine(s: string): string {
  return (
    s
      .split(/\r?\n/)
      .map((l) => l.trim())
      .find((l) => l !== "")
      ?.slice(0, 200) ?? ""
  );
}

/** Why a `-pl` write was refused, from its output ("Insufficient Permissions", out of range…). */
export function powerLimitRefusal(code: number | null, stdout: string, stderr: string): string | null {
  const text = `${stdout}\n${stderr}`;
  if (code === 0 && /was set to/i.test(text)) return null;
  if (code === 0 && !/not supported|failed|not a valid/i.test(text)) return null;
  const line = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .find((l) => l !== "" && !/^Terminating early/i.test(l));
  return `nvidia-smi -pl refused (exit ${code ?? "?"}${code !== null && EXIT_REASONS[code] ? `, ${EXIT_REASONS[code]}` : ""})${line ? `: ${line.slice(0, 200)}` : ""}`;
}
