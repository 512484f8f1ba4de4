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

/**
 * The fields of a section that pass on their own, for a section that did not
 * pass as a whole: the checks across fields still run on them, so a schema
 * problem does not hide the cross-field ones until the next round.
 */
export type PartialSections = { [K in keyof ParsedConfig]?: Partial<NonNullable<ParsedConfig[K]>> };

function partialFields(schema: z.ZodType, value: unknown): Record<string, unknown> | null {
  const shape = (schema as { shape?: Record<string, z.ZodType> }).shape;
  if (!shape || typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(shape)) {
    const r = field.safeParse((value as Record<string, unknown>)[key]);
    if (r.success) out[key] = r.data;
  }
  return out;
}

export function parseSections(
  raw: Record<string, unknown>,
  problems: Problem[],
): { parsed: Parsed; entries: Entries; partial: PartialSections } {
  const shape = ConfigSchema.shape;
  const sectionNames = Object.keys(shape) as (keyof typeof shape)[];
  for (const key of Object.keys(raw)) {
    if (!(key in shape))
      problems.push({ path: formatPath([key]), message: unknownKeyMessage(key, sectionNames) });
  }
  const parsed = {} as Parsed;
  const partial: PartialSections = {};
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
      entries[k] = list.map((item, i) => parseWith(schema, item, { at: [k, i], problems })) as never;
    } else {
      const value = parseWith(shape[key] as z.ZodType, raw[key], { at: [key], problems });
      (parsed as Record<string, unknown>)[key] = value;
      if (value === null && raw[key] !== undefined && raw[key] !== null) {
        const fields = partialFields(unwrap(shape[key] as z.ZodType), raw[key]);
        if (fields) (partial as Record<string, unknown>)[key] = fields;
      }
    }
  }
  return { parsed, entries, partial };
}

/** The object schema inside an optional/nullable/default wrapper. */
function unwrap(schema: z.ZodType): z.ZodType {
  let s: z.ZodType = schema;
  for (let i = 0; i < 5; i++) {
    const def = (s as { _zod?: { def?: { innerType?: z.ZodType; in?: z.ZodType } } })._zod?.def;
    const inner = def?.innerType ?? def?.in;
    if (!inner) break;
    s = inner;
  }
  return s;
}
