/**
 * Browser sessions in the store (shared by every replica): a random id in an HttpOnly cookie,
 * kept here only as its SHA-256, a synchronizer CSRF token, an idle and an absolute lifetime.
 * `realm` keeps the console's and the portal's sessions apart; `data` is a small JSON object
 * the realm owns (never a secret: it is stored as is).
 */
import type { Queryable } from './db.js';

export interface WebSession {
  realm: string;
  subject: string | null;
  csrf: string;
  data: Record<string, unknown>;
  createdAt: number;
  lastSeenAt: number;
}

export interface SessionLifetimes {
  idleMs: number;
  absoluteMs: number;
}

export interface WebSessions {
  create(
    realm: string,
    idHash: string,
    init: { subject: string | null; csrf: string; data: Record<string, unknown> },
    at: number,
    lifetimes: SessionLifetimes,
  ): Promise<void>;
  /** The live session (touched), or null when unknown or past either lifetime (then deleted). */
  get(
    realm: string,
    idHash: string,
    now: number,
    lifetimes: SessionLifetimes,
  ): Promise<WebSession | null>;
  update(idHash: string, data: Record<string, unknown>): Promise<void>;
  delete(idHash: string): Promise<void>;
  /** Ends every session of `subject` in `realm` (sign-out everywhere, a removed account). */
  deleteSubject(realm: string, subject: string): Promise<number>;
}

interface SessionRow {
  realm: string;
  subject: string | null;
  csrf: string;
  data: string;
  created_at: number;
  last_seen_at: number;
}

function expired(row: SessionRow, now: number, l: SessionLifetimes): boolean {
  return now - row.last_seen_at > l.idleMs || now - row.created_at > l.absoluteMs;
}

export class SqliteWebSessions implements WebSessions {
  constructor(private readonly db: Pick<Queryable, 'get' | 'run'>) {}

  async create(
    realm: string,
    idHash: string,
    init: { subject: string | null; csrf: string; data: Record<string, unknown> },
    at: number,
    lifetimes: SessionLifetimes,
  ): Promise<void> {
    // Expired sessions of the realm go as new ones come: the table stays the size of the live ones.
    await this.db.run(
      'DELETE FROM web_sessions WHERE realm = ? AND (last_seen_at < ? OR created_at < ?)',
      [realm, at - lifetimes.idleMs, at - lifetimes.absoluteMs],
    );
    await this.db.run(
      `INSERT INTO web_sessions (id_hash, realm, subject, csrf, data, created_at, last_seen_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      [idHash, realm, init.subject, init.csrf, JSON.stringify(init.data), at, at],
    );
  }

  async get(
    realm: string,
    idHash: string,
    now: number,
    lifetimes: SessionLifetimes,
  ): Promise<WebSession | null> {
    const row = await this.db.get<SessionRow>(
      'SELECT * FROM web_sessions WHERE id_hash = ? AND realm = ?',
      [idHash, realm],
    );
    if (!row) return null;
    if (expired(row, now, lifetimes)) {
      await this.delete(idHash);
      return null;
    }
    await this.db.run('UPDATE web_sessions SET last_seen_at = ? WHERE id_hash = ?', [now, idHash]);
    return {
      realm: row.realm,
      subject: row.subject,
      csrf: row.csrf,
      data: JSON.parse(row.data) as Record<string, unknown>,
      createdAt: row.created_at,
      lastSeenAt: now,
    };
  }

  async update(idHash: string, data: Record<string, unknown>): Promise<void> {
    await this.db.run('UPDATE web_sessions SET data = ? WHERE id_hash = ?', [
      JSON.stringify(data),
      idHash,
    ]);
  }

  async delete(idHash: string): Promise<void> {
    await this.db.run('DELETE FROM web_sessions WHERE id_hash = ?', [idHash]);
  }

  async deleteSubject(realm: string, subject: string): Promise<number> {
    const r = await this.db.run('DELETE FROM web_sessions WHERE realm = ? AND subject = ?', [
      realm,
      subject,
    ]);
    return r.changes;
  }
}
