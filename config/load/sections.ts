// The first step of a load: each section checked against its schema on its own,
// so that one broken section does not hide the cross-section checks of the
// others. List entries are checked one by one, for the same reason.
import type { z } from "zod";
import { ConfigSchema, LIST_SECTIONS, type ParsedConfig } from "../schema.ts";
import { parseWith, unknownKeyMessage } from "./issues.ts";
import { formatPath, type Problem, show } from "./problems.ts";

/** The parsed sections; null where a section did not pass its schema. */
export type Parsed = { [K in keyof ParsedConfig]: ParsedConfig[K] | null };

/** The entries of the list sections; null where an entry did not pass its schema. */
export type Entries = {
  -readonly [K in keyof typeof LIST_SECTIONS]: (z.output<(typeof LIST_SECTIONS)[K]> | null)[];
};

export function parseSections(
  raw: Record<string, unknown>,
  problems: Problem[],
): { parsed: Parsed; entries: Entries } {
  const shape = ConfigSchema.shape;
  const sectionNames = Object.keys(shape) as (keyof typeof shape)[];
  for (const key of Object.keys(raw)) {
    if (!(key in shape))
      problems.push({ path: formatPath([key]), message: unknownKeyMessage(key, sectionNames) });
  }
  const parsed = {} as Parsed;
  const entries: Entries = { meters: [], miners: [], gpuNodes: [] };
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
  return { parsed, entries };
}
