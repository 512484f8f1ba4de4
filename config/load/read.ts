// Reading a config (or meter profile) file and parsing it as YAML or JSON, with
// syntax errors reported at line and column.
import { readFile } from "node:fs/promises";
import YAML from "yaml";
import { ConfigError, type Problem, show } from "./problems.ts";

function lineCol(text: string, pos: number): { line: number; col: number } {
  const before = text.slice(0, Math.max(0, Math.min(pos, text.length)));
  const lines = before.split("\n");
  return { line: lines.length, col: (lines.at(-1)?.length ?? 0) + 1 };
}

export function parseText(file: string, text: string): { value: unknown; problems: Problem[] } {
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

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Reads and parses the config file; a file that cannot be read, does not parse
 * or is not a mapping of sections stops the load here.
 */
export async function readConfigFile(file: string, abs: string): Promise<Record<string, unknown>> {
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
  return raw;
}
