// Miner models: the shipped files config/models/*.yaml, read at every load and
// each checked by the drivers' model schema (a problem names the model file,
// its line, the path in it and what is wrong), and the site's own `models:`,
// which come first, so a site adds models or overrides a shipped one by
// claiming its name. Two models of one layer claiming a name is a problem.
import { readdir } from "node:fs/promises";
import { basename, join, relative } from "node:path";
import {
  type KnownModel,
  type MinerModel,
  ModelCatalog,
  ModelFileSchema,
} from "../../drivers/cgminer/models.ts";
import { MODELS_DIR, PACKAGE_ROOT } from "../paths.ts";
import { MAX_CONFIG_BYTES, readBounded } from "./bounded-read.ts";
import { parseWith } from "./issues.ts";
import type { Problem } from "./problems.ts";
import { type Locate, parseText } from "./read.ts";

/** How a model file is named in messages: relative to the package ("config/models/antminer.yaml"). */
function displayName(abs: string): string {
  const rel = relative(PACKAGE_ROOT, abs);
  return rel.startsWith("..") ? abs : rel;
}

interface Placed {
  model: KnownModel;
  /** Its index in its list, and where that list's paths are located. */
  index: number;
  locate: Locate | null;
  file: string | undefined;
}

/**
 * Every model of the *.yaml files in `dir` (default: the shipped config/models/), in file
 * order; problems go to `problems` with the model file as their file.
 */
export async function loadModelFiles(problems: Problem[], dir: string = MODELS_DIR): Promise<KnownModel[]> {
  const placed = await readModelFiles(dir, problems);
  reportClashes(placed, problems);
  return placed.map((p) => p.model);
}

async function readModelFiles(dir: string, problems: Problem[]): Promise<Placed[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((f) => f.endsWith(".yaml") || f.endsWith(".yml")).sort();
  } catch (e) {
    problems.push({ path: "", message: `cannot read the models folder ${dir}: ${(e as Error).message}` });
    return [];
  }
  const out: Placed[] = [];
  for (const name of names) {
    const abs = join(dir, name);
    const file = displayName(abs);
    const r = await readBounded(abs, { maxBytes: MAX_CONFIG_BYTES });
    if ("error" in r) {
      problems.push({ file, path: "", message: r.error });
      continue;
    }
    const parsed = parseText(abs, r.text);
    if (parsed.problems.length > 0) {
      problems.push(...parsed.problems.map((p) => ({ ...p, file })));
      continue;
    }
    const found: Problem[] = [];
    const data = parseWith(ModelFileSchema, parsed.value, { at: [], problems: found });
    for (const p of found) problems.push(at(p, file, parsed.locate));
    if (!data) continue;
    data.models.forEach((m, index) => {
      out.push({ model: { ...m, origin: file }, index, locate: parsed.locate, file });
    });
  }
  return out;
}

/** A problem of a model file, at its line there. */
function at(p: Problem, file: string | undefined, locate: Locate | null): Problem {
  const where = p.line === undefined && p.path !== "" ? locate?.(p.path) : null;
  return { ...p, ...(file !== undefined ? { file } : {}), ...(where ?? {}) };
}

function reportClashes(placed: Placed[], problems: Problem[]): void {
  const catalog = new ModelCatalog(placed.map((p) => p.model));
  for (const c of catalog.clashes) {
    const second = placed.find((p) => p.model === c.second);
    if (!second) continue;
    problems.push(
      at(
        {
          path: `models[${second.index}]`,
          message: `the name "${c.name}" is also the ${c.first.name}'s (${c.first.origin}): a reported name must mean one model`,
        },
        second.file,
        second.locate,
      ),
    );
  }
}

/**
 * The models a site knows: its own (`models:` in the config file, already checked by the
 * schema) first, then the shipped ones. Its own may claim a shipped model's name (an
 * override), not one another's.
 */
export interface SiteModelsInput {
  own: readonly MinerModel[] | null;
  configFile: string;
  problems: Problem[];
  dir?: string;
}

export async function siteModels({ own, configFile, problems, dir }: SiteModelsInput): Promise<KnownModel[]> {
  const mine: Placed[] = (own ?? []).map((m, index) => ({
    model: { ...m, origin: `${basename(configFile)}, models[${index}]` },
    index,
    locate: null,
    file: undefined,
  }));
  reportClashes(mine, problems);
  const shipped = await loadModelFiles(problems, dir);
  return [...mine.map((p) => p.model), ...shipped];
}
