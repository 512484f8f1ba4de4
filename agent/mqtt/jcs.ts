// RFC 8785 JSON Canonicalization Scheme: the exact bytes a command signature
// covers. Object keys sorted by UTF-16 code units, no whitespace, numbers in
// ECMAScript shortest form (what Number#toString gives), strings escaped as
// JSON.stringify does (which matches the RFC for well-formed strings).

export class JcsError extends Error {}

export function canonicalize(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isFinite(value)) throw new JcsError(`not a JSON number: ${value}`);
      // -0 prints as "0", like the RFC asks
      return JSON.stringify(value);
    case "string":
      if (/\p{Surrogate}/u.test(value)) throw new JcsError("string with a lone surrogate");
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) return `[${value.map(canonicalize).join(",")}]`;
      const obj = value as Record<string, unknown>;
      // default sort compares UTF-16 code units, as §3.2.3 requires
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${canonicalize(k)}:${canonicalize(obj[k])}`).join(",")}}`;
    }
    default:
      throw new JcsError(`not a JSON value: ${typeof value}`);
  }
}
