/**
 * Portal sessions, kept in the store (store/portal-state.ts) so that a session made on one replica
 * works on every other: a random id in an HttpOnly cookie, stored only as its SHA-256 (a
 * database dump does not hand out live cookies), with a synchronizer CSRF token, an idle and an
 * absolute lifetime, and a cap on how many exist.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { PortalStore, SessionPatch, SessionRow } from '../store/portal-state.js';

/** A session as a request sees it; change it only through `SessionStore.update`. */
export type Session = Readonly<SessionRow>;

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

export type SessionInit = Partial<
  Pick<SessionRow, 'user' | 'signedIn' | 'enrolling' | 'freshCodes' | 'totpFp' | 'notice'>
>;

export class SessionStore {
  private readonly idleMs: number;
  private readonly absoluteMs: number;
  private readonly max: number;

  constructor(
    private readonly store: PortalStore,
    private readonly options: SessionOptions,
  ) {
    this.idleMs = (options.idleSeconds ?? 15 * 60) * 1000;
    this.absoluteMs = (options.absoluteSeconds ?? 60 * 60) * 1000;
    this.max = options.maxSessions ?? 10_000;
  }

  private cutoffs(now: number) {
    return { idleBefore: now - this.idleMs, createdBefore: now - this.absoluteMs };
  }

  /** A new session; returns the cookie value (never stored). */
  async create(init: SessionInit): Promise<{ id: string; session: Session }> {
    const id = randomBytes(32).toString('base64url');
    const now = this.options.clock();
    const session: SessionRow = {
      idHash: digest(id),
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
    await this.store.createSession(session, { ...this.cutoffs(now), max: this.max });
    return { id, session };
  }

  /** The live session for a cookie value, touched; null when unknown or expired. */
  async get(id: string | undefined): Promise<Session | null> {
    if (!id || !SESSION_ID_RE.test(id)) return null;
    const now = this.options.clock();
    return this.store.touchSession(digest(id), now, this.cutoffs(now));
  }

  /** Changes the session in the store; returns it as it is now. */
  async update(s: Session, patch: SessionPatch): Promise<Session> {
    await this.store.updateSession(s.idHash, patch);
    return { ...s, ...patch };
  }

  async destroy(id: string | undefined): Promise<void> {
    if (id && SESSION_ID_RE.test(id)) await this.store.deleteSession(digest(id));
  }
}

/** Constant-time check of a submitted CSRF token against the session's. */
export function csrfMatches(session: Pick<Session, 'csrf'>, submitted: unknown): boolean {
  if (typeof submitted !== 'string' || submitted.length !== session.csrf.length) return false;
  return timingSafeEqual(Buffer.from(submitted), Buffer.from(session.csrf));
}
