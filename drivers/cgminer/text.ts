// The CGMiner API's plain-text reply format: sections split by `|`, fields by
// `,`, `name=value`; since API 1.7 `| , = \` inside values are escaped with `\`.
// Parsed into the same shape as the JSON form so one normaliser reads both.
import type { Json } from "./repair.ts";

function splitEscaped(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "\\" && i + 1 < s.length) {
      cur += c + s[i + 1];
      i++;
    } else if (c === sep) {
      out.push(cur);
      cur = "";
    } else cur += c;
  }
  out.push(cur);
  return out;
}

const unescapeApi = (s: string) => s.replace(/\\(.)/g, "$1");

/** Sections of one command's reply, e.g. `STATUS=S,…|SUMMARY,Elapsed=1,…|`. */
function parseSections(sections: string[]): Record<string, Json> {
  const out: Record<string, Json[]> = {};
  for (const section of sections) {
    if (section === "") continue;
    const fields = splitEscaped(section, ",");
    const first = fields[0] ?? "";
    const obj: Record<string, Json> = {};
    let name: string;
    let start = 0;
    if (!first.includes("=")) {
      name = unescapeApi(first);
      start = 1;
    } else {
      // `STATUS=S,…` names itself; `POOL=0,…` rows go under the key's plural
      const key = unescapeApi(first.slice(0, first.indexOf("=")));
      name = key === "STATUS" ? "STATUS" : `${key}S`;
    }
    for (const field of fields.slice(start)) {
      const eq = field.indexOf("=");
      if (eq < 0) continue;
      obj[unescapeApi(field.slice(0, eq))] = unescapeApi(field.slice(eq + 1));
    }
    const rows = out[name] ?? [];
    rows.push(obj);
    out[name] = rows;
  }
  return out;
}

/** Parses a text reply; multi-command replies (`CMD=x|…|CMD=y|…`) become `{x: [reply], y: [reply]}`. */
export function parseTextReply(text: string): Json {
  const sections = splitEscaped(text.replace(/\0+$/, "").trim(), "|");
  if (!sections[0]?.startsWith("CMD=")) return parseSections(sections);
  const multi: Record<string, Json> = {};
  let current: string | null = null;
  let bucket: string[] = [];
  const flush = () => {
    if (current !== null) multi[current] = [parseSections(bucket)];
  };
  for (const section of sections) {
    if (section.startsWith("CMD=")) {
      flush();
      current = unescapeApi(section.slice(4));
      bucket = [];
    } else bucket.push(section);
  }
  flush();
  return multi;
}
