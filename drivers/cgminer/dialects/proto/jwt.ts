// Reading a JWT's expiry without verifying it: the client only needs to know
// when to log in again, and the rig, which holds the key, judges the token.
// A token whose payload is not base64url JSON, or has no numeric `exp`, gives null.

/** The `exp` claim of a JWT in epoch milliseconds, or null when it carries none. */
export function jwtExpiryMs(token: string): number | null {
  const parts = token.split(".");
  if (parts.length !== 3 || !parts[1]) return null;
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
  } catch {
    return null;
  }
  if (typeof payload !== "object" || payload === null) return null;
  const exp = (payload as { exp?: unknown }).exp;
  return typeof exp === "number" && Number.isFinite(exp) && exp > 0 ? exp * 1000 : null;
}

/** Whether the string has the three dot-separated base64url parts of a compact JWT. */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}
