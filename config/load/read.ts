// Reading a config (or meter profile) file and parsing it as YAML or JSON.
// Nothing in a file can crash or run away the loader: syntax errors, duplicate
// keys, unknown tags, unresolved aliases and alias bombs all become problems
// at their line and column, and the file is read bounded (bounded-read.ts).
// The parsed document also locates any path of the file (`miners[3].hosts`)
// so that every later problem can name its line.
import YAML, { isAlias, LineCounter } from "yaml";
import { MAX_CONFIG_BYTES, readBounded } from "./bounded-read.ts";
import { ConfigError, type PathPart, type Problem, show } from "./problems.ts";

/** Aliases one file may use: plenty for a config, far too few for a "billion laughs" bomb. */
const MAX_ALIASES = 1000;

/** Where a path of the file is: 1-based line and column, or null when the file has no such node. */
export type Locate = (path: string) => { line: number; col: number } | null;

const NOWHERE: Locate = () => null;

function lineCol(text: string, pos: number): { line: number; col: number } {
  const before = text.slice(0, Math.max(0, Math.min(pos, text.length)));
  const lines = before.split("\n");
  return { line: lines.length, col: (lines.at(-1)?.length ?? 0) + 1 };
}

/** `miners[3].hosts`, `control["a b"]` → ["miners", 3, "hosts"], ["control", "a b"]. */
function pathParts(path: string): PathPart[] {
  const out: PathPart[] = [];
  const re = /([A-Za-z_$][\w$]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/g;
  for (const m of path.matchAll(re)) {
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else if (m[3] !== undefined) out.push(JSON.parse(m[3]) as string);
  }
  return out;
}

function locator(doc: YAML.Document, lc: LineCounter): Locate {
  return (path) => {
    // the deepest node of the path that the file has: a missing key points at its parent
    let parts = pathParts(path);
    for (; parts.length > 0; parts = parts.slice(0, -1)) {
      const node = doc.getIn(parts, true) as YAML.Node | undefined;
      const start = node && typeof node === "object" && "range" in node ? node.range?.[0] : undefined;
      if (start !== undefined) return lc.linePos(start);
    }
    return null;
  };
}

function firstLine(message: string): string {
  return (message.split("\n")[0] ?? message).replace(/ at line \d+, column \d+:?$/, "");
}

export function parseText(
  file: string,
  text: string,
): { value: unknown; problems: Problem[]; locate: Locate } {
  if (text.trim() === "") {
    return { value: undefined, problems: [{ path: "", message: "the file is empty" }], locate: NOWHERE };
  }
  const lc = new LineCounter();
  const doc = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: false, lineCounter: lc });
  const locate = locator(doc, lc);
  if (file.toLowerCase().endsWith(".json")) {
    try {
      const value = JSON.parse(text) as unknown;
      // JSON.parse keeps the last of two equal keys without a word; the YAML reading of the same text says so
      const dup = doc.errors.find((e) => e.code === "DUPLICATE_KEY");
      if (dup) return { value: undefined, problems: [yamlProblem(text, dup, "duplicate key")], locate };
      return { value, problems: [], locate };
    } catch (e) {
      const msg = (e as Error).message;
      const posMatch = /at position (\d+)/.exec(msg);
      const pos = posMatch ? Number(posMatch[1]) : text.length;
      const clean = msg.replace(/\s*\(line \d+ column \d+\)/, "").replace(/ in JSON at position \d+/, "");
      return {
        value: undefined,
        problems: [{ path: "", ...lineCol(text, pos), message: `invalid JSON: ${clean}` }],
        locate,
      };
    }
  }
  // an unknown tag (!!js/function, !!python/object) is a warning to the yaml package; here it is refused
  const refused = [...doc.errors, ...doc.warnings.filter((w) => w.code === "TAG_RESOLVE_FAILED")];
  if (refused.length > 0) {
    return { value: undefined, problems: refused.map((e) => yamlProblem(text, e, "invalid YAML")), locate };
  }
  const unresolved: Problem[] = [];
  YAML.visit(doc, {
    Alias(_key, node) {
      if (node.resolve(doc) === undefined) {
        const at = node.range ? lc.linePos(node.range[0]) : { line: 1, col: 1 };
        unresolved.push({
          path: "",
          ...at,
          message: `invalid YAML: alias *${node.source} has no anchor &${node.source} before it`,
        });
      }
    },
  });
  if (unresolved.length > 0) return { value: undefined, problems: unresolved, locate };
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (e) {
    // the only throws left are resource limits (an alias bomb); say where the aliases start
    let at = { line: 1, col: 1 };
    YAML.visit(doc, {
      Alias(_key, node) {
        if (isAlias(node) && node.range) {
          at = lc.linePos(node.range[0]);
          return YAML.visit.BREAK;
        }
      },
    });
    return {
      value: undefined,
      problems: [
        {
          path: "",
          ...at,
          message: `invalid YAML: aliases expand beyond ${MAX_ALIASES} nodes (${firstLine((e as Error).message)})`,
        },
      ],
      locate,
    };
  }
  if (value === null || value === undefined) {
    return {
      value: undefined,
      problems: [{ path: "", message: "the file is empty (only comments)" }],
      locate,
    };
  }
  return { value, problems: [], locate };
}

function yamlProblem(text: string, err: YAML.YAMLError, what: string): Problem {
  const at = err.linePos?.[0] ?? lineCol(text, err.pos[0]);
  return { path: "", line: at.line, col: at.col, message: `${what}: ${firstLine(err.message)}` };
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Reads and parses the config file; a file that cannot be read, does not parse
 * or is not a mapping of sections stops the load here.
 */
export async function readConfigFile(
  file: string,
  abs: string,
): Promise<{ raw: Record<string, unknown>; locate: Locate }> {
  const r = await readBounded(abs, { maxBytes: MAX_CONFIG_BYTES });
  if ("error" in r) {
    throw new ConfigError(file, [{ path: "", message: `cannot read the config file: ${r.error}` }]);
  }
  const { value: raw, problems: syntax, locate } = parseText(file, r.text);
  if (syntax.length > 0) throw new ConfigError(file, syntax);
  if (!isPlainObject(raw)) {
    throw new ConfigError(file, [
      { path: "", message: `expected a mapping of sections (site, miners, …), got ${show(raw)}` },
    ]);
  }
  return { raw, locate };
}
