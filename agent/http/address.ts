// The key a client address is counted under by the connection caps, the SSE
// caps and the login limiter: an IPv4 address as it is (an IPv4-mapped IPv6
// address as its IPv4 form), an IPv6 address by its /64 — one LAN host
// holds a whole /64 and could otherwise count as thousands of clients.
import { isIPv4, isIPv6 } from "node:net";

export function addressKey(addr: string | undefined | null): string | null {
  if (!addr) return null;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  if (mapped) return mapped[1]!;
  if (isIPv4(addr)) return addr;
  if (!isIPv6(addr) || addr === "::1") return addr;
  const [head = "", tail = ""] = addr.split("%")[0]!.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = addr.includes("::")
    ? [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(":")}::/64`;
}
