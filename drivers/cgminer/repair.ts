// Parses a CGMiner API reply, repairing the invalid JSON real firmware sends
// (docs/research.md §3): Antminer `stats` objects glued as `}{`,
// missing commas, trailing commas, `[,{`, bare inf/nan, and replies cut short by
// a firmware buffer overflow. Valid JSON takes the fast path untouched.
import { DriverError } from "../types.ts";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface ParsedReply {
  value: Json;
  /** Which repairs were needed (empty for valid JSON): logged once per device. */
  repairs: string[];
}

export function parseReplyJson(text: string): ParsedReply {
  const trimmed = (text.endsWith("\0") ? text.replace(/\0+$/, "") : text).trim();
  if (trimmed === "") throw new DriverError("WK_CGMINER_INVALID_REPLY", "empty reply", true);
  // Antminer's `}{"` in every `stats` reply is the common case: mend it before the
  // first parse rather than paying for a failed parse and the whole repair chain
  const glued = trimmed.includes('}{"');
  try {
    const candidate = glued ? trimmed.replaceAll('}{"', '},{"') : trimmed;
    return { value: JSON.parse(candidate) as Json, repairs: glued ? ["glued-objects"] : [] };
  } catch {
    // fall through to the repairs below
  }
  const repairs: string[] = [];
  let s = trimmed;
  const apply = (name: string, re: RegExp, replacement: string) => {
    const next = s.replace(re, replacement);
    if (next !== s) {
      repairs.push(name);
      s = next;
    }
  };
  apply("newlines", /[\r\n]+/g, "");
  apply("leading-comma", /^,/, "{");
  apply("glued-objects", /\}\s*\{/g, "},{");
  apply("leading-array-comma", /\[\s*,\s*\{/g, "[{");
  apply("trailing-comma", /,\s*([}\]])/g, "$1");
  // `"x""temp0":` (btminer) — a value string immediately followed by a key
  apply("missing-comma-after-string", /"("[^"{}[\],:]+"\s*:)/g, '",$1');
  // `"a":12"b":` / `}"b":` / `]"b":` / `true"b":` — a value followed by a key
  apply("missing-comma-after-value", /([0-9}\]]|true|false|null)\s*("[^"{}[\],:]+"\s*:)/g, "$1,$2");
  apply("non-finite", /(:|\[|,)\s*-?(?:inf(?:inity)?|nan(?:\(ind\))?)\b/gi, "$1null");
  try {
    return { value: JSON.parse(s) as Json, repairs };
  } catch {
    // a truncated reply: close what is open after the last complete value
  }
  const closed = closeTruncated(s);
  if (closed !== null) {
    try {
      return { value: JSON.parse(closed) as Json, repairs: [...repairs, "truncated"] };
    } catch {
      // give up below
    }
  }
  throw new DriverError(
    "WK_CGMINER_INVALID_REPLY",
    `reply is not JSON even after repair (${trimmed.length} bytes, starts ${JSON.stringify(trimmed.slice(0, 40))})`,
    false,
  );
}

/**
 * Cuts a truncated JSON text back to its last complete member and appends the
 * missing closing brackets. Returns null when nothing sensible remains.
 */
export function closeTruncated(s: string): string | null {
  const stack: string[] = [];
  let inString = false;
  let escaped = false;
  let lastSafeCut = -1; // index after which cutting leaves only complete members
  let stackAtCut: string[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (inString) {
      if (escaped) escaped = false;
      else if (c === "\\") escaped = true;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === "{" || c === "[") stack.push(c === "{" ? "}" : "]");
    else if (c === "}" || c === "]") {
      stack.pop();
      lastSafeCut = i + 1;
      stackAtCut = [...stack];
    } else if (c === ",") {
      lastSafeCut = i;
      stackAtCut = [...stack];
    }
  }
  if (lastSafeCut <= 0) return null;
  return s.slice(0, lastSafeCut) + stackAtCut.reverse().join("");
}
