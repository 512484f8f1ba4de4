// Miner host specs as a site writes them: one address, a range
// (10.1.0.10-10.1.0.250 or 10.1.0.10-250), a CIDR block (10.1.0.0/24) or a list
// of those. The cap exists so that a slip like /8 instead of /24 fails loudly
// instead of making the agent poll sixteen million addresses.
import { formatGrouped } from "../drivers/number-text.ts";

/** Hard cap on miners one agent accepts, across all entries. */
export const MAX_MINERS = 65536;

const IPV4_LIKE = /^\d+(\.\d+){3}$/;
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function parseIpv4(s: string): number | null {
  if (!IPV4_LIKE.test(s)) return null;
  let n = 0;
  for (const part of s.split(".")) {
    // Leading zeros are refused: some tools read them as octal.
    if (part.length > 1 && part.startsWith("0")) return null;
    const o = Number(part);
    if (o > 255) return null;
    n = n * 256 + o;
  }
  return n;
}

export function ipv4ToString(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

function ipv4OrThrow(s: string, whole: string): number {
  const n = parseIpv4(s);
  if (n === null)
    throw new Error(`${JSON.stringify(s)} is not an IPv4 address (in ${JSON.stringify(whole)})`);
  return n;
}

/** A contiguous block [first, first + count) of IPv4 addresses, or a lone name. */
type Block = { first: number; count: number } | { name: string };

function parseSpec(spec: string): Block {
  const s = spec.trim();
  if (s === "") throw new Error("empty host");
  const slash = s.indexOf("/");
  if (slash >= 0) {
    const addr = s.slice(0, slash);
    const prefixText = s.slice(slash + 1);
    const base = ipv4OrThrow(addr, s);
    if (!/^\d{1,2}$/.test(prefixText) || Number(prefixText) > 32) {
      throw new Error(`${JSON.stringify(s)}: prefix length must be 0 to 32, got /${prefixText}`);
    }
    const prefix = Number(prefixText);
    const size = 2 ** (32 - prefix);
    const network = Math.floor(base / size) * size;
    if (network !== base) {
      throw new Error(
        `${JSON.stringify(s)} has host bits set; did you mean ${ipv4ToString(network)}/${prefix}?`,
      );
    }
    // Network and broadcast addresses are not hosts, except in /31 (RFC 3021) and /32.
    if (prefix <= 30) return { first: network + 1, count: size - 2 };
    return { first: network, count: size };
  }
  const dash = s.indexOf("-");
  if (dash >= 0 && IPV4_LIKE.test(s.slice(0, dash))) {
    const from = ipv4OrThrow(s.slice(0, dash), s);
    const rest = s.slice(dash + 1);
    let to: number;
    if (/^\d{1,3}$/.test(rest)) {
      // Shorthand: only the last octet is given.
      const last = Number(rest);
      if (last > 255) throw new Error(`${JSON.stringify(s)}: the range end ${last} is over 255`);
      to = from - (from & 255) + last;
    } else {
      to = ipv4OrThrow(rest, s);
    }
    if (to < from) {
      throw new Error(
        `${JSON.stringify(s)} is reversed: ${ipv4ToString(to)} comes before ${ipv4ToString(from)}`,
      );
    }
    return { first: from, count: to - from + 1 };
  }
  if (IPV4_LIKE.test(s)) return { first: ipv4OrThrow(s, s), count: 1 };
  if (HOSTNAME.test(s) && !/^[\d.]+$/.test(s)) return { name: s };
  throw new Error(
    `${JSON.stringify(s)} is not an address, a range (10.1.0.10-10.1.0.250 or 10.1.0.10-250) or a CIDR block (10.1.0.0/24)`,
  );
}

function blockSize(b: Block): number {
  return "name" in b ? 1 : b.count;
}

/** How many addresses a spec yields, without expanding it. Throws like expandHosts. */
export function countHosts(spec: string | string[]): number {
  const specs = typeof spec === "string" ? [spec] : spec;
  return specs.reduce((n, s) => n + blockSize(parseSpec(s)), 0);
}

/**
 * Expands a host spec (or a list of them) into addresses, in order. Throws an Error
 * with a readable message for a malformed spec or when the spec would yield more
 * than `cap` addresses (the message names how many it would yield).
 */
export function expandHosts(spec: string | string[], cap: number = MAX_MINERS): string[] {
  const specs = typeof spec === "string" ? [spec] : spec;
  if (specs.length === 0) throw new Error("the host list is empty");
  const blocks = specs.map((s) => {
    if (typeof s !== "string") throw new Error(`expected a host string, got ${JSON.stringify(s)}`);
    return parseSpec(s);
  });
  const total = blocks.reduce((n, b) => n + blockSize(b), 0);
  if (total > cap) {
    const shown = typeof spec === "string" ? spec : `the list of ${specs.length}`;
    throw new Error(
      `${shown} would yield ${formatGrouped(total)} miners, over the limit` +
        (cap === MAX_MINERS
          ? ` of ${formatGrouped(MAX_MINERS)} miners in total`
          : `: ${formatGrouped(cap)} left of ${formatGrouped(MAX_MINERS)} miners in total`),
    );
  }
  const out: string[] = [];
  for (const b of blocks) {
    if ("name" in b) out.push(b.name);
    else for (let i = 0; i < b.count; i++) out.push(ipv4ToString(b.first + i));
  }
  return out;
}

/** True for names the sim can serve without leaving the machine. */
export function isLoopback(host: string): boolean {
  const n = parseIpv4(host);
  if (n !== null) return n >>> 24 === 127;
  return host === "localhost";
}

/** True for a valid single host: an IPv4 address or a DNS name. */
export function isHost(s: string): boolean {
  if (IPV4_LIKE.test(s)) return parseIpv4(s) !== null;
  return HOSTNAME.test(s) && !/^[\d.]+$/.test(s);
}
