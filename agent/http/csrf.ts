// Cross-site request forgery checks for every POST: the browser's Origin (or,
// failing that, Referer) must name this very host, and — once logged in — the
// session's CSRF token must come back in the `x-csrf-token` header, which a
// page on another site can neither read nor set on a cross-site request.
import type { IncomingMessage } from "node:http";
import { sameToken } from "./sessions.ts";

const CSRF_HEADER = "x-csrf-token";

/**
 * Null when the request may come from our own page; else why not. A request
 * without Origin and Referer (curl, a script on the LAN) passes this check:
 * it carries no ambient browser credentials unless it was given the cookie.
 */
export function originProblem(req: IncomingMessage): string | null {
  const host = req.headers.host;
  const origin = req.headers.origin ?? refererOrigin(req.headers.referer);
  if (origin === undefined) return null;
  if (!host) return "no Host header";
  if (origin === "null") return "opaque Origin";
  let o: URL;
  try {
    o = new URL(origin);
  } catch {
    return `bad Origin ${JSON.stringify(origin).slice(0, 80)}`;
  }
  if (o.host.toLowerCase() !== host.toLowerCase()) return `Origin ${o.host} is not ${host}`;
  if (o.protocol !== "http:" && o.protocol !== "https:") return `Origin scheme ${o.protocol}`;
  return null;
}

function refererOrigin(referer: string | undefined): string | undefined {
  if (!referer) return undefined;
  try {
    return new URL(referer).origin;
  } catch {
    return "null";
  }
}

/** Null when the header carries the session's token; else why not. */
export function tokenProblem(req: IncomingMessage, expected: string): string | null {
  const got = req.headers[CSRF_HEADER];
  const value = Array.isArray(got) ? got[0] : got;
  if (!value) return `missing ${CSRF_HEADER} header`;
  return sameToken(value, expected) ? null : `wrong ${CSRF_HEADER}`;
}
