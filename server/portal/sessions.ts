/**
 * Portal sessions, in the server's memory: a random id in an HttpOnly cookie, kept here only as
 * its SHA-256 (a heap dump does not hand out live cookies), with a synchronizer CSRF token, an
 * idle and an absolute lifetime, and a cap on how many exist. A server restart signs everyone
 * out, which is the safe direction for sessions that last minutes.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export interface Session {
  readonly user: string | null;
  /** Random, per session; every POST form carries it (synchronizer token). */
  readonly csrf: string;
  readonly createdAt: number;
  lastSeenAt: number;
  /** Signed in with a code: may reset the authenticator and regenerate recovery codes. */
  signedIn: boolean;
  /** May see and confirm the pending secret whose SHA-256 is this (set by a link or a reset). */
  enrolling: string | null;
  /** Recovery codes just issued, shown (and downloadable) until the user says they saved them. */
  freshCodes: string[] | null;
  /** SHA-256 of the active secret when signed in: an admin reset (or any other change) ends it. */
  totpFp: string | null;
  /** A one-time confirmation shown on the next page. */
  notice: string | null;
}

export interface SessionOptions {
  clock: () => number;
  idleSeconds?: number;
  absoluteSeconds?: number;
  maxSessions?: number;
}

function digest(id: string): string {
  return createHash('sha256').update(id, 'utf8').digest('hex');
}

export function fingerprint(secret: string): string {
  return createHash('sha256').update(`idv-pending:${secret}`, 'utf8').digest('hex');
}

export const SESSION_ID_RE = /^[A-Za-z0-9_-]{43}$/;

export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  private readonly idleMs: number;
  private readonly absoluteMs: number;
  private readonly max: number;

  constructor(private readonly options: SessionOptions) {
    this.idleMs = (options.idleSeconds ?? 15 * 60) * 1000;
    this.absoluteMs = (options.absoluteSeconds ?? 60 * 60) * 1000;
    this.max = options.maxSessions ?? 10_000;
  }

  /** A new session; returns the cookie value (never stored). */
  create(
    init: Partial<
      Pick<Session, 'user' | 'signedIn' | 'enrolling' | 'freshCodes' | 'totpFp' | 'notice'>
    >,
  ): {
    id: string;
    session: Session;
  } {
    this.sweep();
    if (this.sessions.size >= this.max) this.evictOne();
    const id = randomBytes(32).toString('base64url');
    const now = this.options.clock();
    const session: Session = {
      user: init.user ?? null,
      csrf: randomBytes(32).toString('base64url'),
      createdAt: now,
      lastSeenAt: now,
      signedIn: init.signedIn ?? false,
      enrolling: init.enrolling ?? null,
      freshCodes: init.freshCodes ?? null,
      totpFp: init.totpFp ?? null,
      notice: init.notice ?? null,
    };
    this.sessions.set(digest(id), session);
    return { id, session };
  }

  /** The live session for a cookie value, touched; null when unknown or expired. */
  get(id: string | undefined): Session | null {
    if (!id || !SESSION_ID_RE.test(id)) return null;
    const key = digest(id);
    const s = this.sessions.get(key);
    if (!s) return null;
    const now = this.options.clock();
    if (now - s.lastSeenAt > this.idleMs || now - s.createdAt > this.absoluteMs) {
      this.sessions.delete(key);
      return null;
    }
    s.lastSeenAt = now;
    return s;
  }

  destroy(id: string | undefined): void {
    if (id && SESSION_ID_RE.test(id)) this.sessions.delete(digest(id));
  }

  /** Ends every session of a user (after an admin reset, say). */
  destroyUser(user: string): void {
    for (const [k, s] of this.sessions) if (s.user === user) this.sessions.delete(k);
  }

  get size(): number {
    return this.sessions.size;
  }

  /**
   * Full: drop the oldest anonymous session (a sign-in form someone opened), so that a flood of
   * page views cannot push out people who are signed in or enrolling; else the oldest of all.
   */
  private evictOne(): void {
    for (const [k, s] of this.sessions) {
      if (s.user === null) {
        this.sessions.delete(k);
        return;
      }
    }
    const oldest = this.sessions.keys().next().value;
    if (oldest !== undefined) this.sessions.delete(oldest);
  }

  private sweep(): void {
    const now = this.options.clock();
    for (const [k, s] of this.sessions) {
      if (now - s.lastSeenAt > this.idleMs || now - s.createdAt > this.absoluteMs)
        this.sessions.delete(k);
    }
  }
}

/** Constant-time check of a submitted CSRF token against the session's. */
export function csrfMatches(session: Session, submitted: unknown): boolean {
  if (typeof submitted !== 'string' || submitted.length !== session.csrf.length) return false;
  return timingSafeEqual(Buffer.from(submitted), Buffer.from(session.csrf));
}
