// Device strings made safe to print. A miner's model, pool URL or a stray reply
// may carry control characters: on a terminal, ESC sequences recolour text,
// retitle the window or write the clipboard (OSC 52), CR rewrites a line, and
// bidi overrides reorder what a reader sees. They are shown escaped instead
// (`\x1b`, `\r`, `\u202e`), so what is printed is what was received.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

export function printable(s: string): string {
  return s.replace(UNSAFE, (c) => {
    const named = NAMED[c];
    if (named) return named;
    const code = c.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/** The first bytes of a reply, printable, for a reason text ("HTTP/1.1 400 Bad Request\r\n…"). */
export function snippet(bytes: Buffer | string, max = 40): string {
  const text = typeof bytes === "string" ? bytes : bytes.toString("latin1");
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return printable(cut);
}

/** C1 controls and bidi marks survive JSON.stringify raw; escaped as \uXXXX the JSON means the same. */
const JSON_UNSAFE = /[\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** JSON for a terminal: what JSON.stringify gives, with what a terminal would act on escaped. */
export function terminalJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(
    JSON_UNSAFE,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
