// The broker flags `send` and `tail-telemetry` share (--ca, --username,
// --password-file, --mqtt-version, --topic-root), parsed and checked once.
import { readFileSync } from "node:fs";
import { UsageError } from "./usage.ts";

/** parseArgs options for the shared broker flags. */
export const BROKER_FLAGS = {
  ca: { type: "string" },
  username: { type: "string" },
  "password-file": { type: "string" },
  "mqtt-version": { type: "string" },
  "topic-root": { type: "string" },
} as const;

/** --mqtt-version: 4 or 5, or null when not given. */
export function mqttVersionFlag(raw: string | undefined): 4 | 5 | null {
  if (raw === undefined) return null;
  if (raw !== "4" && raw !== "5") throw new UsageError(`--mqtt-version expects 4 or 5, got '${raw}'`);
  return Number(raw) as 4 | 5;
}

/** A file a flag names (a CA, a password), without its trailing newline; null when not given. */
export function readFlagFile(file: string | undefined, flag: string): string | null {
  if (!file) return null;
  try {
    return readFileSync(file, "utf8").replace(/[\r\n]+$/, "");
  } catch (e) {
    throw new UsageError(`cannot read ${flag} ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
}
