/**
 * Console sessions: kept in the store (server/store/sessions.ts, realm `console`) so that every
 * replica knows them; the cookie (HttpOnly, SameSite=Strict, Secure and `__Host-` over TLS) holds
 * a random id the store keeps only as its SHA-256. A new id at every step up (password, code)
 * and at set-up; sign-out ends one session, sign-out everywhere all of the admin's.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { clearSessionCookie, cookieName, readCookie, setSessionCookie } from '../portal/http.js';
import { SESSION_ID_RE } from '../portal/sessions.js';
import type { WebSession, WebSessions, SessionLifetimes } from '../store/sessions.js';

export const REALM = 'console';
const COOKIE = 'idv_console';
/** Signed in: 15 minutes without a request, 8 hours in all. */
export const LIFETIMES: SessionLifetimes = { idleMs: 15 * 60_000, absoluteMs: 8 * 3_600_000 };
/** Between a right password and its code; and a set-up from its link. */
export const STEP_MS = 5 * 60_000;
export const SETUP_MS = 30 * 60_000;

export type Stage = 'code' | 'in' | 'setup';

export interface ConsoleSession {
  idHash: string;
  admin: string | null;
  stage: Stage | null;
  csrf: string;
  createdAt: number;
  /** A one-time message for the next page. */
  notice: { kind: 'error' | 'success'; text: string } | null;
}

function digest(id: string): string {
  return createHash('sha256').update(id, 'utf8').digest('hex');
}

export class ConsoleSessions {
  constructor(
    private readonly store: WebSessions,
    private readonly clock: () => number,
    private readonly secure: () => boolean,
  ) {}

  private cookieId(req: FastifyRequest): string | undefined {
    const id = readCookie(req, cookieName(this.secure(), COOKIE));
    return id && SESSION_ID_RE.test(id) ? id : undefined;
  }

  /** The live session of this request, or null (none, expired, or its step ran out). */
  async current(req: FastifyRequest): Promise<ConsoleSession | null> {
    const id = this.cookieId(req);
    if (!id) return null;
    const idHash = digest(id);
    const now = this.clock();
    const s = await this.store.get(REALM, idHash, now, LIFETIMES);
    if (!s) return null;
    const view = toView(idHash, s);
    const stepLimit = view.stage === 'code' ? STEP_MS : view.stage === 'setup' ? SETUP_MS : null;
    if (stepLimit !== null && now - view.createdAt > stepLimit) {
      await this.store.delete(idHash);
      return null;
    }
    return view;
  }

  /** A fresh session (new id, new CSRF token) replacing this request's, if any. */
  async start(
    req: FastifyRequest,
    reply: FastifyReply,
    admin: string | null,
    stage: Stage | null,
    notice: ConsoleSession['notice'] = null,
  ): Promise<ConsoleSession> {
    await this.end(req);
    const id = randomBytes(32).toString('base64url');
    const idHash = digest(id);
    const csrf = randomBytes(32).toString('base64url');
    const now = this.clock();
    await this.store.create(
      REALM,
      idHash,
      { subject: admin, csrf, data: { stage, notice } },
      now,
      LIFETIMES,
    );
    setSessionCookie(reply, this.secure(), id, COOKIE);
    return { idHash, admin, stage, csrf, createdAt: now, notice };
  }

  async setNotice(s: ConsoleSession, notice: ConsoleSession['notice']): Promise<void> {
    await this.store.update(s.idHash, { stage: s.stage, notice });
  }

  /** Takes the one-time notice (it is shown once). */
  async takeNotice(s: ConsoleSession): Promise<ConsoleSession['notice']> {
    const n = s.notice;
    if (n) await this.store.update(s.idHash, { stage: s.stage, notice: null });
    return n;
  }

  async end(req: FastifyRequest): Promise<void> {
    const id = this.cookieId(req);
    if (id) await this.store.delete(digest(id));
  }

  async endAll(admin: string): Promise<number> {
    return this.store.deleteSubject(REALM, admin);
  }

  clear(reply: FastifyReply): void {
    clearSessionCookie(reply, this.secure(), COOKIE);
  }
}

function toView(idHash: string, s: WebSession): ConsoleSession {
  const stage = s.data.stage;
  const notice = s.data.notice as ConsoleSession['notice'] | undefined;
  return {
    idHash,
    admin: s.subject,
    stage: stage === 'code' || stage === 'in' || stage === 'setup' ? stage : null,
    csrf: s.csrf,
    createdAt: s.createdAt,
    notice: notice ?? null,
  };
}
