// Operator sessions, in memory: a restart logs everyone out, which on a site
// gateway is the safe default; a reload keeps them (keepSessionsOf). A session is a random cookie token plus its own
// CSRF token; it ends after idle time, at a hard maximum age, or at logout.
// The table is bounded: the oldest session goes when it is full.
import { randomBytes, timingSafeEqual } from "node:crypto";

export const SESSION_COOKIE = "wk_session";
const SESSION_IDLE_MS = 8 * 3600_000;
export const SESSION_MAX_MS = 24 * 3600_000;
const MAX_SESSIONS = 256;

export interface Session {
  token: string;
  operator: string;
  csrfToken: string;
  createdAt: number;
  lastSeenAt: number;
}

export class Sessions {
  private readonly byToken = new Map<string, Session>();

  constructor(private readonly opts: { idleMs?: number; maxAgeMs?: number; max?: number } = {}) {}

  create(operator: string, now = Date.now()): Session {
    this.sweep(now);
    const max = this.opts.max ?? MAX_SESSIONS;
    while (this.byToken.size >= max) {
      const oldest = this.byToken.keys().next().value as string;
      this.byToken.delete(oldest);
    }
    const s: Session = {
      token: randomBytes(32).toString("base64url"),
      operator,
      csrfToken: randomBytes(32).toString("base64url"),
      createdAt: now,
      lastSeenAt: now,
    };
    this.byToken.set(s.token, s);
    return s;
  }

  /** The live session for a cookie token, touched; null when unknown or expired. */
  get(token: string | null, now = Date.now()): Session | null {
    if (!token) return null;
    const s = this.byToken.get(token);
    if (!s) return null;
    if (
      now - s.lastSeenAt > (this.opts.idleMs ?? SESSION_IDLE_MS) ||
      now - s.createdAt > (this.opts.maxAgeMs ?? SESSION_MAX_MS)
    ) {
      this.byToken.delete(token);
      return null;
    }
    s.lastSeenAt = now;
    return s;
  }

  delete(token: string): void {
    this.byToken.delete(token);
  }

  /** Keeps only the sessions `keep` approves of. */
  retain(keep: (s: Session) => boolean): void {
    for (const [token, s] of [...this.byToken]) if (!keep(s)) this.byToken.delete(token);
  }

  get size(): number {
    return this.byToken.size;
  }

  private sweep(now: number): void {
    for (const token of [...this.byToken.keys()]) this.get(token, now);
  }
}

/**
 * After a reload: sessions stay for the operators configured as before (same
 * name, same password hash); those removed or whose password changed are
 * logged out.
 */
export function keepSessionsOf(
  sessions: Sessions,
  before: readonly { name: string; passwordHash: string }[],
  after: readonly { name: string; passwordHash: string }[],
): void {
  const kept = new Set(
    after
      .filter((a) => before.some((b) => b.name === a.name && b.passwordHash === a.passwordHash))
      .map((a) => a.name),
  );
  sessions.retain((s) => kept.has(s.operator));
}

/** Constant-time comparison of two tokens (different lengths never match). */
export function sameToken(a: string | null | undefined, b: string): boolean {
  if (!a) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** One cookie's value from a Cookie header. */
export function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(";")) {
    const i = part.indexOf("=");
    if (i < 0) continue;
    if (part.slice(0, i).trim() === name) return part.slice(i + 1).trim() || null;
  }
  return null;
}

/**
 * The session cookie. HttpOnly: page scripts never see it; SameSite=Strict:
 * other sites' pages never send it. No `Secure`: the page is plain HTTP on the
 * site LAN (there is no certificate a field laptop would trust), and a Secure
 * cookie would never come back over http://.
 */
/** The session cookie; `secure` (the page is served over HTTPS) keeps the browser from ever sending it in clear. */
export function sessionCookie(token: string, maxAgeS: number, secure = false): string {
  return `${SESSION_COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAgeS}${secure ? "; Secure" : ""}`;
}

export function clearedSessionCookie(secure = false): string {
  return `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0${secure ? "; Secure" : ""}`;
}
