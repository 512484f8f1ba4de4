// HTTP Digest access authentication (RFC 7616, RFC 2617) as a client computes
// it: parsing WWW-Authenticate challenges and building the Authorization header
// (MD5, MD5-sess, SHA-256, SHA-256-sess; qop "auth" or none).
import { createHash, randomBytes } from "node:crypto";
import { DriverError } from "../types.ts";

export interface DigestCredentials {
  username: string;
  password: string;
}

// --- Digest (RFC 7616 / RFC 2617) --------------------------------------------

type DigestAlgorithm = "MD5" | "MD5-sess" | "SHA-256" | "SHA-256-sess";

export interface DigestChallenge {
  realm: string;
  nonce: string;
  opaque: string | null;
  /** Offered qop values (empty: RFC 2069 style, no qop). */
  qop: string[];
  algorithm: DigestAlgorithm;
  stale: boolean;
  userhash: boolean;
}

/** One challenge per scheme occurrence, with its auth-params (names lower-cased). */
export function parseAuthenticate(values: readonly string[]): Array<{
  scheme: string;
  params: Record<string, string>;
}> {
  const out: Array<{ scheme: string; params: Record<string, string> }> = [];
  for (const value of values) {
    let i = 0;
    let current: { scheme: string; params: Record<string, string> } | null = null;
    const s = value;
    const skip = (re: RegExp) => {
      while (i < s.length && re.test(s[i]!)) i++;
    };
    while (i < s.length) {
      skip(/[\s,]/);
      const start = i;
      while (i < s.length && /[!#$%&'*+.^_`|~0-9A-Za-z-]/.test(s[i]!)) i++;
      const token = s.slice(start, i);
      if (token === "") {
        i++; // a stray character: skip it
        continue;
      }
      const afterToken = i;
      skip(/\s/);
      if (s[i] === "=" && current) {
        i++;
        skip(/\s/);
        let v = "";
        if (s[i] === '"') {
          i++;
          while (i < s.length && s[i] !== '"') {
            if (s[i] === "\\" && i + 1 < s.length) i++;
            v += s[i];
            i++;
          }
          i++; // closing quote
        } else {
          const vs = i;
          while (i < s.length && s[i] !== "," && !/\s/.test(s[i]!)) i++;
          v = s.slice(vs, i);
        }
        current.params[token.toLowerCase()] = v;
      } else {
        // a new scheme; a token68 after it (Basic/Bearer style) is skipped
        i = afterToken;
        current = { scheme: token, params: {} };
        out.push(current);
        skip(/\s/);
        const t68 = /^[A-Za-z0-9\-._~+/]+=*\s*(?=,|$)/.exec(s.slice(i));
        if (t68) i += t68[0].length;
      }
    }
  }
  return out;
}

const ALGORITHMS: Record<string, DigestAlgorithm> = {
  md5: "MD5",
  "md5-sess": "MD5-sess",
  "sha-256": "SHA-256",
  "sha-256-sess": "SHA-256-sess",
};

/** The Digest challenges we can answer, strongest first (SHA-256 before MD5; SHA-512-256 is skipped). */
export function digestChallenges(values: readonly string[]): DigestChallenge[] {
  const out: DigestChallenge[] = [];
  for (const c of parseAuthenticate(values)) {
    if (c.scheme.toLowerCase() !== "digest") continue;
    const p = c.params;
    if (p.nonce === undefined || p.realm === undefined) continue;
    const algorithm = ALGORITHMS[(p.algorithm ?? "MD5").toLowerCase()];
    if (!algorithm) continue;
    out.push({
      realm: p.realm,
      nonce: p.nonce,
      opaque: p.opaque ?? null,
      qop: (p.qop ?? "")
        .split(",")
        .map((q) => q.trim().toLowerCase())
        .filter((q) => q !== ""),
      algorithm,
      stale: (p.stale ?? "").toLowerCase() === "true",
      userhash: (p.userhash ?? "").toLowerCase() === "true",
    });
  }
  const rank = (a: DigestAlgorithm) => (a.startsWith("SHA-256") ? 0 : 1);
  return out.sort((a, b) => rank(a.algorithm) - rank(b.algorithm));
}

function hashOf(algorithm: DigestAlgorithm, s: string): string {
  return createHash(algorithm.startsWith("SHA-256") ? "sha256" : "md5")
    .update(s, "utf8")
    .digest("hex");
}

interface DigestInput {
  algorithm: DigestAlgorithm;
  username: string;
  password: string;
  realm: string;
  nonce: string;
  method: string;
  uri: string;
  /** "auth", or null for a server that offered no qop (RFC 2069). */
  qop: "auth" | null;
  nc: string;
  cnonce: string;
}

/** The `response` value: KD(H(A1), nonce:nc:cnonce:qop:H(A2)) (RFC 7616 §3.4.1). */
export function digestResponse(d: DigestInput): string {
  const H = (s: string) => hashOf(d.algorithm, s);
  let ha1 = H(`${d.username}:${d.realm}:${d.password}`);
  if (d.algorithm.endsWith("-sess")) ha1 = H(`${ha1}:${d.nonce}:${d.cnonce}`);
  const ha2 = H(`${d.method}:${d.uri}`);
  return d.qop === null
    ? H(`${ha1}:${d.nonce}:${ha2}`)
    : H(`${ha1}:${d.nonce}:${d.nc}:${d.cnonce}:${d.qop}:${ha2}`);
}

const quote = (s: string) => `"${s.replace(/(["\\])/g, "\\$1")}"`;

/** The Authorization header answering `ch` for one request. */
/** The request a Digest answer is for; `nc` and `cnonce` are fixed only by tests. */
export interface DigestRequest {
  method: string;
  uri: string;
  nc?: number;
  cnonce?: string;
}

export function digestAuthorization(
  ch: DigestChallenge,
  creds: DigestCredentials,
  req: DigestRequest,
): string {
  const { method, uri, nc = 1, cnonce = randomBytes(16).toString("hex") } = req;
  if (ch.qop.length > 0 && !ch.qop.includes("auth")) {
    // auth-int would need the body hashed; lighttpd (and every Antminer) offers auth
    throw new DriverError(
      "WK_ANTMINER_AUTH_UNSUPPORTED",
      `server offers qop=${ch.qop.join(",")} only`,
      false,
    );
  }
  const qop = ch.qop.length > 0 ? "auth" : null;
  const ncHex = nc.toString(16).padStart(8, "0");
  const response = digestResponse({
    algorithm: ch.algorithm,
    username: creds.username,
    password: creds.password,
    realm: ch.realm,
    nonce: ch.nonce,
    method,
    uri,
    qop,
    nc: ncHex,
    cnonce,
  });
  const username = ch.userhash ? hashOf(ch.algorithm, `${creds.username}:${ch.realm}`) : creds.username;
  const parts = [
    `username=${quote(username)}`,
    `realm=${quote(ch.realm)}`,
    `nonce=${quote(ch.nonce)}`,
    `uri=${quote(uri)}`,
    `algorithm=${ch.algorithm}`,
    `response=${quote(response)}`,
  ];
  if (ch.opaque !== null) parts.push(`opaque=${quote(ch.opaque)}`);
  if (qop) parts.push(`qop=${qop}`, `nc=${ncHex}`, `cnonce=${quote(cnonce)}`);
  if (ch.userhash) parts.push("userhash=true");
  return `Digest ${parts.join(", ")}`;
}
