// Reads a site config file and returns the resolved config: units in watts and
// seconds, miner ranges expanded, meter profiles loaded, secrets read, relative
// paths anchored at the config file. It reports every problem it can find in one
// go (a site tech fixing a config over a slow link should not play whack-a-mole),
// using the paths of the user's own file: miners[3].hosts, not an index after
// expansion. Secret values never appear in a problem.
import { readdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import type { z } from "zod";
import { type MeterProfile, MeterProfileSchema } from "../drivers/modbus/profile.ts";
import { countHosts, expandHosts, isLoopback, MAX_MINERS } from "./hosts.ts";
import {
  ConfigSchema,
  type ControlConfig,
  type GpuNodeConfig,
  LIST_SECTIONS,
  type MeterConfig,
  type MeterEntry,
  type MinerConfig,
  type MinerEntry,
  type MqttConfig,
  type ParsedConfig,
  type SiteConfig,
} from "./schema.ts";
import { formatPowerW } from "./units.ts";

export interface Problem {
  /** Where in the file, e.g. "miners[3].hosts"; "" for the whole file. */
  path: string;
  message: string;
}

export class ConfigError extends Error {
  readonly file: string;
  readonly problems: Problem[];
  /** Warnings found alongside the problems (missing files with strictFiles off, …). */
  readonly warnings: Problem[];
  constructor(file: string, problems: Problem[], warnings: Problem[] = []) {
    super(problems.map((p) => formatProblem(file, p)).join("\n"));
    this.name = "ConfigError";
    this.file = file;
    this.problems = problems;
    this.warnings = warnings;
  }
}

export function formatProblem(file: string, p: Problem): string {
  return p.path === "" ? `${file}: ${p.message}` : `${file}: ${p.path}: ${p.message}`;
}

export interface LoadOptions {
  /** Environment for secrets and the default store path (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Missing referenced files are errors (run, check-config --strict-files) instead of warnings. */
  strictFiles?: boolean;
}

/** Most duplicate lines reported per kind; the rest are counted. */
const MAX_DUPLICATE_LINES = 5;
const DEFAULT_MINER_PORT = 4028;

export const METERS_DIR = fileURLToPath(new URL("./meters/", import.meta.url));

// ---------------------------------------------------------------- paths and zod issues

type PathPart = string | number | symbol;

export function formatPath(parts: readonly PathPart[]): string {
  let out = "";
  for (const p of parts) {
    if (typeof p === "number") out += `[${p}]`;
    else if (typeof p === "string" && /^[A-Za-z_$][\w$]*$/.test(p)) out += out === "" ? p : `.${p}`;
    else out += `[${JSON.stringify(String(p))}]`;
  }
  return out;
}

function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return String(v);
}

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

function unknownKeyMessage(key: string, known: string[]): string {
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

function parseWith<S extends z.ZodType>(
  schema: S,
  value: unknown,
  prefix: PathPart[],
  problems: Problem[],
): z.output<S> | null {
  const r = schema.safeParse(value, { error: errorMap });
  if (r.success) return r.data;
  problems.push(...toProblems(r.error.issues, prefix));
  return null;
}

// ---------------------------------------------------------------- reading the file

function lineCol(text: string, pos: number): { line: number; col: number } {
  const before = text.slice(0, Math.max(0, Math.min(pos, text.length)));
  const lines = before.split("\n");
  return { line: lines.length, col: (lines.at(-1)?.length ?? 0) + 1 };
}

function parseText(file: string, text: string): { value: unknown; problems: Problem[] } {
  if (text.trim() === "") return { value: undefined, problems: [{ path: "", message: "the file is empty" }] };
  if (file.toLowerCase().endsWith(".json")) {
    try {
      return { value: JSON.parse(text), problems: [] };
    } catch (e) {
      const msg = (e as Error).message;
      const posMatch = /at position (\d+)/.exec(msg);
      const pos = posMatch ? Number(posMatch[1]) : text.length;
      const { line, col } = lineCol(text, pos);
      const clean = msg.replace(/\s*\(line \d+ column \d+\)/, "").replace(/ in JSON at position \d+/, "");
      return {
        value: undefined,
        problems: [{ path: "", message: `line ${line}, column ${col}: invalid JSON: ${clean}` }],
      };
    }
  }
  const doc = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    return {
      value: undefined,
      problems: doc.errors.map((err) => {
        const at = err.linePos?.[0] ?? lineCol(text, err.pos[0]);
        const firstLine = err.message.split("\n")[0] ?? err.message;
        return { path: "", message: `line ${at.line}, column ${at.col}: invalid YAML: ${firstLine}` };
      }),
    };
  }
  const value = doc.toJS({ maxAliasCount: 1000 }) as unknown;
  if (value === null || value === undefined) {
    return { value: undefined, problems: [{ path: "", message: "the file is empty (only comments)" }] };
  }
  return { value, problems: [] };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

// ---------------------------------------------------------------- secrets and files

/** WATTKEEPER_ + the key's path in SCREAMING_SNAKE, without the File suffix. */
export function secretEnvName(path: readonly PathPart[]): string {
  const parts = path.map((p, i) => {
    let s = String(p);
    if (i === path.length - 1) s = s.replace(/File$/, "");
    return s.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();
  });
  return ["WATTKEEPER", ...parts].join("_");
}

interface FileContext {
  dir: string;
  env: NodeJS.ProcessEnv;
  problems: Problem[];
  warnings: Problem[];
  strictFiles: boolean;
}

async function readReferenced(abs: string): Promise<{ text: string } | { error: string }> {
  try {
    return { text: (await readFile(abs, "utf8")).replace(/[\r\n]+$/, "") };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return { error: `file not found: ${abs}` };
    if (code === "EACCES" || code === "EPERM") return { error: `cannot read ${abs}: permission denied` };
    if (code === "EISDIR") return { error: `${abs} is a folder, not a file` };
    return { error: `cannot read ${abs}: ${code ?? (e as Error).message}` };
  }
}

/**
 * Walks a parsed section and, for every `fooFile` key, makes the path absolute and
 * sets `foo` to the file's content, or to the WATTKEEPER_* variable that wins over it.
 */
async function resolveFiles(node: unknown, path: PathPart[], ctx: FileContext): Promise<void> {
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) await resolveFiles(node[i], [...path, i], ctx);
    return;
  }
  if (!isPlainObject(node)) return;
  for (const key of Object.keys(node)) {
    const value = node[key];
    if (key.endsWith("File") && key.length > 4 && (typeof value === "string" || value === null)) {
      const target = key.slice(0, -4);
      const envName = secretEnvName([...path, key]);
      const fromEnv = ctx.env[envName];
      node[target] = null;
      if (typeof value === "string") node[key] = isAbsolute(value) ? value : resolve(ctx.dir, value);
      if (fromEnv !== undefined && fromEnv !== "") {
        node[target] = fromEnv;
        continue;
      }
      if (typeof value !== "string") continue;
      const r = await readReferenced(node[key] as string);
      if ("text" in r) node[target] = r.text;
      else {
        const p = { path: formatPath([...path, key]), message: `${r.error} (or set ${envName})` };
        (ctx.strictFiles ? ctx.problems : ctx.warnings).push(p);
      }
    } else if (typeof value === "object" && value !== null) {
      await resolveFiles(value, [...path, key], ctx);
    }
  }
}

// ---------------------------------------------------------------- meter profiles

function knownProfiles(): string[] {
  try {
    return readdirSync(METERS_DIR)
      .filter((f) => f.endsWith(".yaml"))
      .map((f) => f.slice(0, -5))
      .sort();
  } catch {
    return [];
  }
}

async function loadProfile(
  name: string,
  at: string,
  cache: Map<string, MeterProfile | Problem[]>,
): Promise<MeterProfile | Problem[]> {
  const cached = cache.get(name);
  if (cached) return cached;
  let result: MeterProfile | Problem[];
  const known = knownProfiles();
  if (!known.includes(name)) {
    result = [
      { path: at, message: `unknown meter profile "${name}"; known: ${known.join(", ") || "(none)"}` },
    ];
  } else {
    const file = join(METERS_DIR, `${name}.yaml`);
    const text = await readFile(file, "utf8");
    const parsed = parseText(file, text);
    if (parsed.problems.length > 0) {
      result = parsed.problems.map((p) => ({
        path: at,
        message: `config/meters/${name}.yaml: ${p.message}`,
      }));
    } else {
      const problems: Problem[] = [];
      const profile = parseWith(MeterProfileSchema, parsed.value, [], problems);
      result =
        profile ??
        problems.map((p) => ({
          path: at,
          message: `config/meters/${name}.yaml: ${p.path ? `${p.path}: ` : ""}${p.message}`,
        }));
    }
  }
  cache.set(name, result);
  return result;
}

// ---------------------------------------------------------------- duplicates

class DuplicateReporter {
  private count = 0;
  private firstPath = "";
  constructor(
    private readonly problems: Problem[],
    private readonly what: string,
  ) {}
  add(path: string, message: string): void {
    if (this.count === 0) this.firstPath = path;
    if (this.count < MAX_DUPLICATE_LINES) this.problems.push({ path, message });
    this.count++;
  }
  finish(): void {
    const more = this.count - MAX_DUPLICATE_LINES;
    if (more > 0) this.problems.push({ path: this.firstPath, message: `… and ${more} more ${this.what}` });
  }
}

// ---------------------------------------------------------------- the loader

type Parsed = { [K in keyof ParsedConfig]: ParsedConfig[K] | null };

export async function loadConfig(
  file: string,
  opts: LoadOptions = {},
): Promise<{ config: SiteConfig; warnings: Problem[] }> {
  const env = opts.env ?? process.env;
  const abs = resolve(file);
  const dir = dirname(abs);
  let text: string;
  try {
    text = await readFile(abs, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? "no such file"
        : code === "EISDIR"
          ? "it is a folder"
          : code === "EACCES"
            ? "permission denied"
            : String(code);
    throw new ConfigError(file, [{ path: "", message: `cannot read the config file: ${why}` }]);
  }
  const { value: raw, problems: syntax } = parseText(file, text);
  if (syntax.length > 0) throw new ConfigError(file, syntax);
  if (!isPlainObject(raw)) {
    throw new ConfigError(file, [
      { path: "", message: `expected a mapping of sections (site, miners, …), got ${show(raw)}` },
    ]);
  }

  const problems: Problem[] = [];
  const warnings: Problem[] = [];
  const shape = ConfigSchema.shape;
  const sectionNames = Object.keys(shape) as (keyof typeof shape)[];

  // 1. Shape, section by section, so that one broken section does not hide the
  //    cross-section checks of the others. List entries are checked one by one.
  for (const key of Object.keys(raw)) {
    if (!(key in shape))
      problems.push({ path: formatPath([key]), message: unknownKeyMessage(key, sectionNames) });
  }
  const parsed = {} as Parsed;
  const entries: {
    -readonly [K in keyof typeof LIST_SECTIONS]: (z.output<(typeof LIST_SECTIONS)[K]> | null)[];
  } = {
    meters: [],
    miners: [],
    gpuNodes: [],
  };
  for (const key of sectionNames) {
    if (key in LIST_SECTIONS) {
      const k = key as keyof typeof LIST_SECTIONS;
      const list = raw[k];
      if (list === undefined || list === null) continue;
      if (!Array.isArray(list)) {
        problems.push({ path: k, message: `expected a list, got ${show(list)}` });
        continue;
      }
      const schema = LIST_SECTIONS[k] as z.ZodType;
      entries[k] = list.map((item, i) => parseWith(schema, item, [k, i], problems)) as never;
    } else {
      (parsed as Record<string, unknown>)[key] = parseWith(
        shape[key] as z.ZodType,
        raw[key],
        [key],
        problems,
      );
    }
  }
  const site = parsed.site;
  const control = parsed.control;

  // 2. Control: values against each other and against the contract.
  let failsafeBudgetW: number | null = null;
  if (control) {
    if (control.restoreMarginW <= control.shedMarginW) {
      problems.push({
        path: "control.restoreMarginW",
        message:
          `must be greater than shedMarginW (${formatPowerW(control.restoreMarginW)} ≤ ${formatPowerW(control.shedMarginW)}): ` +
          "the gap between them is the hysteresis that keeps the loop from shedding and restoring the same miners every tick",
      });
    }
    if (control.meterStaleS <= control.tickS) {
      problems.push({
        path: "control.meterStaleS",
        message: `must be greater than tickS (${control.meterStaleS} s ≤ ${control.tickS} s), or every reading would count as stale`,
      });
    }
    if (site) {
      failsafeBudgetW = control.failsafeBudgetW ?? site.contractLimitW / 2;
      if (failsafeBudgetW > site.contractLimitW) {
        problems.push({
          path: "control.failsafeBudgetW",
          message: `must not exceed site.contractLimitW (${formatPowerW(failsafeBudgetW)} > ${formatPowerW(site.contractLimitW)})`,
        });
      }
    }
    const noMqtt = raw.mqtt === undefined || raw.mqtt === null;
    if (control.economics && noMqtt) {
      for (const k of ["hashpriceTopic", "energyPriceTopic"] as const) {
        if (control.economics[k] !== null) {
          problems.push({
            path: `control.economics.${k}`,
            message: "needs an mqtt section: the price is read from the broker",
          });
        }
      }
    }
  }

  // 3. Ids, unique across miners, GPU nodes and meters.
  const ids = new Map<string, string>();
  const dupIds = new DuplicateReporter(problems, "duplicate ids");
  const claimId = (id: string, path: string, owner: string, derived: boolean) => {
    const other = ids.get(id);
    if (other !== undefined)
      dupIds.add(path, `${derived ? "derived " : ""}id "${id}" is also used by ${other}`);
    else ids.set(id, owner);
  };

  // 4. Meters: profiles, one site meter, one meter per Modbus address.
  const meters: MeterConfig[] = [];
  const profileCache = new Map<string, MeterProfile | Problem[]>();
  let siteMeter: string | null = null;
  const modbusTargets = new Map<string, string>();
  const serialPorts = new Map<string, { at: string; baudRate: number; parity: string }>();
  for (const [i, m] of entries.meters.entries()) {
    if (!m) continue;
    const at = `meters[${i}]`;
    claimId(m.id, `${at}.id`, at, false);
    if (m.role === "site") {
      if (siteMeter)
        problems.push({
          path: `${at}.role`,
          message: `only one meter may have role site; ${siteMeter} already does`,
        });
      else siteMeter = at;
    }
    const t = m.modbus;
    const target = t.kind === "rtu" ? `${t.path}#${t.unitId}` : `${t.host}:${t.port}#${t.unitId}`;
    const other = modbusTargets.get(target);
    if (other)
      problems.push({
        path: `${at}.modbus`,
        message: `the same Modbus device (unit ${t.unitId}) as ${other}`,
      });
    else modbusTargets.set(target, at);
    if (t.kind === "rtu") {
      // Devices on one serial bus share its line settings.
      const bus = serialPorts.get(t.path);
      if (bus && (bus.baudRate !== t.baudRate || bus.parity !== t.parity)) {
        problems.push({
          path: `${at}.modbus`,
          message: `${t.path} is shared with ${bus.at}, which uses ${bus.baudRate} baud, parity ${bus.parity}`,
        });
      } else if (!bus) serialPorts.set(t.path, { at, baudRate: t.baudRate, parity: t.parity });
    }
    const profile = await meterProfile(m, i, profileCache, problems);
    if (profile) {
      const { profile: _p, registers: _r, maxGap: _g, ...rest } = m;
      meters.push({ ...rest, profile });
    }
  }

  // 5. Miners: expand, under the cap; unique host:port and ids.
  const miners: MinerConfig[] = [];
  const endpoints = new Map<string, string>();
  const dupEndpoints = new DuplicateReporter(problems, "duplicate host:port pairs");
  let total = 0;
  let overCap = false;
  for (const [i, m] of entries.miners.entries()) {
    if (!m) continue;
    const at = `miners[${i}]`;
    const hostKey = m.host !== undefined ? "host" : "hosts";
    let hosts: string[];
    if (m.host !== undefined) hosts = [m.host];
    else {
      try {
        if (overCap) {
          total += countHosts(m.hosts as string | string[]);
          continue;
        }
        hosts = expandHosts(m.hosts as string | string[], MAX_MINERS - total);
      } catch (e) {
        problems.push({ path: `${at}.hosts`, message: (e as Error).message });
        overCap = true;
        continue;
      }
    }
    if (total + hosts.length > MAX_MINERS) {
      problems.push({
        path: `${at}.${hostKey}`,
        message: `over the limit of ${MAX_MINERS.toLocaleString("en-US")} miners in total`,
      });
      overCap = true;
      continue;
    }
    total += hosts.length;
    for (const host of hosts) {
      const endpoint = `${host.toLowerCase()}:${m.port}`;
      const other = endpoints.get(endpoint);
      if (other !== undefined) {
        dupEndpoints.add(`${at}.${hostKey}`, `${host}:${m.port} is also in ${other}`);
        continue;
      }
      endpoints.set(endpoint, at);
      const id =
        m.id ??
        `${m.idPrefix}${host.replace(/\./g, "-")}${m.port !== DEFAULT_MINER_PORT ? `-${m.port}` : ""}`;
      claimId(id, m.id !== undefined ? `${at}.id` : `${at}.${hostKey}`, at, m.id === undefined);
      miners.push(minerConfig(m, id, host, at));
    }
  }
  if (overCap && total > MAX_MINERS) {
    problems.push({
      path: "miners",
      message: `${total.toLocaleString("en-US")} miners in all, over the limit of ${MAX_MINERS.toLocaleString("en-US")} per agent`,
    });
  }
  dupEndpoints.finish();

  // 6. GPU nodes.
  const gpuEndpoints = new Map<string, string>();
  for (const [i, g] of entries.gpuNodes.entries()) {
    if (!g) continue;
    const at = `gpuNodes[${i}]`;
    claimId(g.id, `${at}.id`, at, false);
    const endpoint = `${g.host.toLowerCase()}:${g.port}`;
    const other = gpuEndpoints.get(endpoint);
    if (other) problems.push({ path: `${at}.host`, message: `${g.host}:${g.port} is also ${other}` });
    else gpuEndpoints.set(endpoint, at);
  }
  dupIds.finish();

  // 7. Operators: a hash that is well-formed but not base64 is most likely the
  //    documentation's placeholder; the agent runs, that operator cannot log in.
  parsed.http?.operators.forEach((o, i) => {
    const [, , , , salt, hash] = o.passwordHash.split("$");
    if (!isBase64(salt ?? "") || !isBase64(hash ?? "")) {
      warnings.push({
        path: `http.operators[${i}].passwordHash`,
        message: `salt or hash is not base64 (a placeholder?); operator "${o.name}" cannot log in`,
      });
    }
  });

  // 8. Referenced files and secrets, relative to the config file.
  const fileCtx: FileContext = { dir, env, problems, warnings, strictFiles: opts.strictFiles === true };
  if (parsed.mqtt) await resolveFiles(parsed.mqtt, ["mqtt"], fileCtx);
  for (const [i, g] of entries.gpuNodes.entries()) if (g) await resolveFiles(g, ["gpuNodes", i], fileCtx);
  // Credentials are resolved once per entry and shared by the miners it expands to.
  for (const [i, m] of entries.miners.entries()) {
    if (m?.credentials) await resolveFiles(m.credentials, ["miners", i, "credentials"], fileCtx);
  }

  // 9. Store: the state directory, as systemd or the environment give it.
  let storePath: string | null = null;
  if (parsed.store) {
    const p = parsed.store.path;
    const stateDir = env.WATTKEEPER_STATE_DIR || env.STATE_DIRECTORY?.split(":")[0] || "/var/lib/wattkeeper";
    storePath = p === null ? join(stateDir, "wattkeeper.db") : resolve(dir, p);
  }

  // 10. The simulated site serves loopback addresses only.
  if (parsed.sim) {
    for (const m of miners) {
      if (!isLoopback(m.host)) {
        warnings.push({
          path: `${m.source}`,
          message: `sim: ${m.host} is not a loopback address; the simulated site cannot serve it`,
        });
        break;
      }
    }
    for (const [i, m] of entries.meters.entries()) {
      if (m && (m.modbus.kind === "rtu" || !isLoopback(m.modbus.host))) {
        warnings.push({
          path: `meters[${i}].modbus`,
          message: "sim: not a loopback TCP address; the simulated site cannot serve it",
        });
      }
    }
  }
  if (site && !siteMeter && problems.length === 0) {
    warnings.push({
      path: "meters",
      message:
        "no meter has role site: the loop estimates site power from device reports + control.unmeteredW",
    });
  }

  if (
    problems.length > 0 ||
    !site ||
    !control ||
    !parsed.http ||
    !parsed.log ||
    storePath === null ||
    failsafeBudgetW === null
  ) {
    if (problems.length === 0) problems.push({ path: "", message: "invalid configuration" });
    throw new ConfigError(file, problems, warnings);
  }

  const controlConfig: ControlConfig = { ...control, failsafeBudgetW };
  const config: SiteConfig = {
    file: abs,
    site: { ...site, name: site.name ?? site.id },
    mqtt: parsed.mqtt as MqttConfig | null,
    http: parsed.http,
    store: { path: storePath },
    meters,
    miners,
    gpuNodes: entries.gpuNodes as GpuNodeConfig[],
    control: controlConfig,
    sim: parsed.sim,
    log: parsed.log,
  };
  return { config, warnings };
}

function isBase64(s: string): boolean {
  return s.length > 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(s);
}

function minerConfig(m: MinerEntry, id: string, host: string, source: string): MinerConfig {
  const { host: _h, hosts: _hs, id: _id, idPrefix: _p, credentials, ...rest } = m;
  return { ...rest, id, host, credentials: credentials as MinerConfig["credentials"], source };
}

async function meterProfile(
  m: MeterEntry,
  i: number,
  cache: Map<string, MeterProfile | Problem[]>,
  problems: Problem[],
): Promise<MeterProfile | null> {
  if (m.profile !== undefined) {
    const r = await loadProfile(m.profile, `meters[${i}].profile`, cache);
    if (Array.isArray(r)) {
      problems.push(...r);
      return null;
    }
    return r;
  }
  // Inline: the drivers' own profile schema judges it, with the meter's paths.
  const inline = { name: `inline:${m.id}`, registers: m.registers, maxGap: m.maxGap };
  return parseWith(MeterProfileSchema, inline, ["meters", i], problems);
}
