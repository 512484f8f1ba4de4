// The CGMiner API reply model and its two renderings for the sim: the STATUS
// envelope, JSON and text ("|" sections, "," fields, "=" values), and joined
// (`a+b`) replies. Hand-written rather than JSON.stringify so that the faithful
// oddities can be reproduced: fixed decimals like cgminer's printf, and
// Antminer's invalid `}{` between STATS objects. sim/cgminer/replies.ts builds
// the stock commands' replies on it.
/** A number printed with fixed decimals, as cgminer's api_add_* formatters do ("0.000"). */
export class Fixed {
  constructor(
    readonly value: number,
    readonly digits: number,
  ) {}
}

type Value = string | number | boolean | Fixed;
export type Item = Record<string, Value>;
type Severity = "S" | "I" | "W" | "E" | "F";

interface Section {
  /** JSON key ("SUMMARY", "DEVS", …). */
  name: string;
  /** Text form starts each item with `NAME,` (summary, version, config, check) instead of an id field. */
  textPrefix: boolean;
  items: Item[];
  /** Antminer quirk: items joined with `}{` instead of `},{` in JSON. */
  brokenJoin?: boolean;
}

export interface Reply {
  severity: Severity;
  code: number;
  msg: string;
  section?: Section;
}

export interface ReplyContext {
  /** Epoch seconds for `When`. */
  when: number;
  /** `Description`: the API's version string. */
  description: string;
}

// Message codes from cgminer's api.c (the ones the sim uses).
export const CODE = {
  POOL: 7,
  NOPOOL: 8,
  DEVS: 9,
  NODEVS: 10,
  SUMM: 11,
  INVCMD: 14,
  VERSION: 22,
  INVJSON: 23,
  MISCMD: 24,
  MINECONFIG: 33,
  ACCDENY: 45,
  DEVDETAILS: 69,
  MINESTATS: 70,
  MISCHK: 71,
  CHECK: 72,
} as const;

function num(n: number): string {
  // cgminer never emits inf/nan on the stock commands the sim serves; keep the JSON valid
  return Number.isFinite(n) ? String(n) : "0";
}

function jsonValue(v: Value): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "number") return num(v);
  return Number.isFinite(v.value) ? v.value.toFixed(v.digits) : "0";
}

/** Since API 1.7, `| , = \` are escaped with a backslash in the text form. */
function textEscape(s: string): string {
  return s.replace(/[|,=\\]/g, (c) => `\\${c}`);
}

function textValue(v: Value): string {
  if (typeof v === "string") return textEscape(v);
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "number") return num(v);
  return Number.isFinite(v.value) ? v.value.toFixed(v.digits) : "0";
}

function jsonItem(item: Item): string {
  let out = "{";
  let first = true;
  for (const k in item) {
    if (!first) out += ",";
    first = false;
    out += `${JSON.stringify(k)}:${jsonValue(item[k]!)}`;
  }
  return `${out}}`;
}

function textFields(item: Item): string {
  const parts: string[] = [];
  for (const k in item) parts.push(`${textEscape(k)}=${textValue(item[k]!)}`);
  return parts.join(",");
}

function statusItem(r: Reply, ctx: ReplyContext): Item {
  return { STATUS: r.severity, When: ctx.when, Code: r.code, Msg: r.msg, Description: ctx.description };
}

/** One command's reply as JSON, without the trailing NUL. */
export function renderJson(r: Reply, ctx: ReplyContext): string {
  let out = `{"STATUS":[${jsonItem(statusItem(r, ctx))}]`;
  if (r.section) {
    const sep = r.section.brokenJoin ? "" : ",";
    out += `,${JSON.stringify(r.section.name)}:[${r.section.items.map(jsonItem).join(sep)}]`;
  }
  return `${out},"id":1}`;
}

/** One command's reply in the text form, without the trailing NUL. */
export function renderText(r: Reply, ctx: ReplyContext): string {
  let out = `${textFields(statusItem(r, ctx))}|`;
  if (r.section) {
    for (const item of r.section.items) {
      const fields = textFields(item);
      out += r.section.textPrefix ? `${r.section.name}${fields ? `,${fields}` : ""}|` : `${fields}|`;
    }
  }
  return out;
}

/**
 * Joined commands (`summary+pools`), as cgminer's head_join emits them: an array
 * per command in JSON, `CMD=name|` before each reply in text.
 */
export function renderJoined(
  parts: Array<{ cmd: string; reply: Reply }>,
  ctx: ReplyContext,
  isJson: boolean,
): string {
  if (isJson) {
    return `{${parts.map((p) => `${JSON.stringify(p.cmd)}:[${renderJson(p.reply, ctx)}]`).join(",")},"id":1}`;
  }
  return parts.map((p) => `CMD=${textEscape(p.cmd)}|${renderText(p.reply, ctx)}`).join("");
}

export function errorReply(code: number, msg: string): Reply {
  return { severity: "E", code, msg };
}
