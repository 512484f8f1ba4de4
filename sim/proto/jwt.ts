// The simulated rig's own JWTs: HS256 over base64url(header).base64url(payload)
// with a per-rig secret (node:crypto), as a rig signs its access and refresh
// tokens. Written for the sim, independent of the driver's decoding.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export interface SimClaims {
  sub: string;
  /** "access" or "refresh". */
  typ: string;
  iat: number;
  exp: number;
  jti: string;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString("base64url");

export function signJwt(claims: SimClaims, secret: Buffer): string {
  const head = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = b64url(JSON.stringify(claims));
  const sig = createHmac("sha256", secret).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${sig}`;
}

/** The claims of a token this secret signed, unexpired at `nowS`; null otherwise. */
export function verifyJwt(token: string, secret: Buffer, nowS: number): SimClaims | null {
  const [head, body, sig, extra] = token.split(".");
  if (!head || !body || !sig || extra !== undefined) return null;
  const want = createHmac("sha256", secret).update(`${head}.${body}`).digest();
  const got = Buffer.from(sig, "base64url");
  if (got.length !== want.length || !timingSafeEqual(got, want)) return null;
  let claims: SimClaims;
  try {
    const h = JSON.parse(Buffer.from(head, "base64url").toString("utf8")) as { alg?: unknown };
    if (h.alg !== "HS256") return null;
    claims = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as SimClaims;
  } catch {
    return null;
  }
  if (typeof claims.exp !== "number" || claims.exp <= nowS) return null;
  return claims;
}

export function newSecret(): Buffer {
  return randomBytes(32);
}

export function newJti(): string {
  return randomBytes(8).toString("hex");
}
