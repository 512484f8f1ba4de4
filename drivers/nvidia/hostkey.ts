// Host-key pinning: SHA-256 fingerprints as `ssh-keygen -lf` prints them
// ("SHA256:" + unpadded base64 of the key blob's digest), from the config or
// from a known_hosts file (plain, [host]:port and hashed |1|salt|hash entries).
import { createHash, createHmac } from "node:crypto";

/** The fingerprint of a public key blob (SSH wire format). */
export function fingerprintSha256(keyBlob: Buffer): string {
  return `SHA256:${createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "")}`;
}

/** Normalises "SHA256:abc=" / "abc" to "SHA256:abc"; compares case-sensitively (base64). */
export function normaliseFingerprint(fp: string): string {
  const body = fp.trim().replace(/^SHA256:/i, "");
  return `SHA256:${body.replace(/=+$/, "")}`;
}

function hostMatches(pattern: string, names: string[]): boolean {
  if (pattern.startsWith("|1|")) {
    const [, , salt, hash] = pattern.split("|");
    if (!salt || !hash) return false;
    const key = Buffer.from(salt, "base64");
    return names.some((n) => createHmac("sha1", key).update(n).digest("base64") === hash);
  }
  const globs = pattern.split(",");
  let hit = false;
  for (const g of globs) {
    const negated = g.startsWith("!");
    const body = negated ? g.slice(1) : g;
    const re = new RegExp(
      `^${body
        .replace(/[.+^${}()|\\]/g, "\\$&")
        .replace(/\*/g, ".*")
        .replace(/\?/g, ".")}$`,
      "i",
    );
    if (names.some((n) => re.test(n))) {
      if (negated) return false;
      hit = true;
    }
  }
  return hit;
}

/**
 * Fingerprints known_hosts holds for host:port (`[host]:port` unless port 22).
 * `@revoked` keys are returned separately so they are refused even if also listed.
 */
export function knownHostsFingerprints(
  text: string,
  host: string,
  port: number,
): { allowed: string[]; revoked: string[] } {
  const names = port === 22 ? [host, `[${host}]:22`] : [`[${host}]:${port}`];
  const allowed: string[] = [];
  const revoked: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const parts = line.split(/\s+/);
    let marker: string | null = null;
    if (parts[0]?.startsWith("@")) marker = parts.shift()!;
    if (marker === "@cert-authority") continue;
    const [hosts, , blob] = parts;
    if (!hosts || !blob || !hostMatches(hosts, names)) continue;
    const fp = fingerprintSha256(Buffer.from(blob, "base64"));
    (marker === "@revoked" ? revoked : allowed).push(fp);
  }
  return { allowed: allowed.filter((f) => !revoked.includes(f)), revoked };
}
