// Loopback address allocation for large simulated fleets. Linux routes all of
// 127.0.0.0/8 to lo, so each simulated miner can have its own address and the
// real port 4028, exactly like a fleet on a LAN. Addresses ending in .0 and .255
// are skipped: scanners and range configs treat them as network/broadcast.

function ipv4ToInt(ip: string): number {
  const parts = ip.split(".");
  if (parts.length !== 4) throw new Error(`not an IPv4 address: "${ip}"`);
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new Error(`not an IPv4 address: "${ip}"`);
    n = n * 256 + Number(p);
  }
  return n;
}

function intToIpv4(n: number): string {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/**
 * `count` addresses from `base` upwards (base included unless it ends in .0/.255),
 * skipping .0 and .255. A loopback base must stay inside 127/8.
 */
export function allocateAddresses(base: string, count: number): string[] {
  if (!Number.isInteger(count) || count < 0) throw new Error(`bad address count: ${count}`);
  let n = ipv4ToInt(base);
  const limit = base.startsWith("127.") ? ipv4ToInt("127.255.255.254") : ipv4ToInt("255.255.255.254");
  const out: string[] = [];
  while (out.length < count) {
    if (n > limit) {
      throw new Error(`cannot allocate ${count} addresses from ${base}: ran past ${intToIpv4(limit)}`);
    }
    const last = n & 255;
    if (last !== 0 && last !== 255) out.push(intToIpv4(n));
    n++;
  }
  return out;
}

/** Groups addresses into contiguous `first-last` ranges within each /24 (a config `hosts:` value each). */
export function toRanges(addresses: readonly string[]): string[] {
  const ranges: string[] = [];
  let start: number | null = null;
  let prev = 0;
  const flush = () => {
    if (start === null) return;
    ranges.push(start === prev ? intToIpv4(start) : `${intToIpv4(start)}-${intToIpv4(prev)}`);
  };
  for (const a of addresses) {
    const n = ipv4ToInt(a);
    if (start !== null && n === prev + 1 && n >>> 8 === prev >>> 8) {
      prev = n;
      continue;
    }
    flush();
    start = n;
    prev = n;
  }
  flush();
  return ranges;
}
