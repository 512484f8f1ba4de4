// A `HOST[:PORT]` command-line argument, with the protocol's default port.
import { UsageError } from "./usage.ts";

export function parseHostPort(spec: string, defaultPort: number): { host: string; port: number } {
  const m = /^(.+?)(?::(\d{1,5}))?$/.exec(spec.trim());
  const port = m?.[2] === undefined ? defaultPort : Number(m[2]);
  if (!m?.[1] || port < 1 || port > 65535) throw new UsageError(`expected HOST[:PORT], got "${spec}"`);
  return { host: m[1], port };
}
