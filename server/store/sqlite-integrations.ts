/**
 * The integrations' tables over one SQL connection, in portable SQL (`?` placeholders, `ON
 * CONFLICT`, no SQLite-only functions) so another backend can run the same statements. Links in
 * the mail queue are sealed with the master key like TOTP secrets.
 */
import { randomUUID } from 'node:crypto';
import type { Queryable } from './db.js';
import type { SecretBox } from './crypto.js';
import { eventFromRow, type EventRow } from './event-row.js';
import type {
  DirectoryLink,
  IntegrationStore,
  MailKind,
  NewMail,
  QueuedMail,
} from './integrations.js';
import type { StoredEvent } from './store.js';

/** The tables, in portable DDL (BIGINT timestamps, no reserved names). */
export const INTEGRATION_TABLES = `
  CREATE TABLE directory_users (
    name TEXT PRIMARY KEY REFERENCES users(name) ON DELETE CASCADE,
    dn TEXT NOT NULL,
    suspended_by_sync INTEGER NOT NULL DEFAULT 0,
    synced_at BIGINT NOT NULL
  );
  CREATE TABLE integration_state (state_key TEXT PRIMARY KEY, state_value TEXT NOT NULL, updated_at BIGINT NOT NULL);
  CREATE TABLE user_emails (
    user_name TEXT PRIMARY KEY REFERENCES users(name) ON DELETE CASCADE,
    address TEXT NOT NULL,
    updated_at BIGINT NOT NULL
  );
  CREATE TABLE mail_queue (
    id TEXT PRIMARY KEY,
    user_name TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    address TEXT NOT NULL,
    kind TEXT NOT NULL,
    link_sealed TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL
  );
  CREATE INDEX mail_queue_due ON mail_queue (next_attempt_at);
  CREATE TABLE forward_cursors (destination TEXT PRIMARY KEY, last_seq BIGINT NOT NULL, updated_at BIGINT NOT NULL);
`;

interface MailRow {
  id: string;
  user_name: string;
  address: string;
  kind: string;
  link_sealed: string;
  expires_at: number;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  created_at: number;
}

export class SqliteIntegrations implements IntegrationStore {
  constructor(
    private readonly db: Queryable,
    private readonly box: SecretBox,
  ) {}

  async directoryLinks(): Promise<DirectoryLink[]> {
    const rows = await this.db.all<{
      name: string;
      dn: string;
      suspended_by_sync: number;
      synced_at: number;
    }>('SELECT name, dn, suspended_by_sync, synced_at FROM directory_users ORDER BY name');
    return rows.map((r) => ({
      name: r.name,
      dn: r.dn,
      suspendedBySync: r.suspended_by_sync === 1,
      syncedAt: r.synced_at,
    }));
  }

  async setDirectoryLink(link: DirectoryLink): Promise<void> {
    await this.db.run(
      `INSERT INTO directory_users (name, dn, suspended_by_sync, synced_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET dn = excluded.dn,
           suspended_by_sync = excluded.suspended_by_sync, synced_at = excluded.synced_at`,
      [link.name, link.dn, link.suspendedBySync ? 1 : 0, link.syncedAt],
    );
  }

  async removeDirectoryLink(name: string): Promise<void> {
    await this.db.run('DELETE FROM directory_users WHERE name = ?', [name]);
  }

  async getState(key: string): Promise<string | null> {
    const row = await this.db.get<{ state_value: string }>(
      'SELECT state_value FROM integration_state WHERE state_key = ?',
      [key],
    );
    return row?.state_value ?? null;
  }

  async setState(key: string, value: string, at: number): Promise<void> {
    await this.db.run(
      `INSERT INTO integration_state (state_key, state_value, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (state_key) DO UPDATE SET state_value = excluded.state_value, updated_at = excluded.updated_at`,
      [key, value, at],
    );
  }

  async getUserEmail(user: string): Promise<string | null> {
    const row = await this.db.get<{ address: string }>(
      'SELECT address FROM user_emails WHERE user_name = ?',
      [user],
    );
    return row?.address ?? null;
  }

  async setUserEmail(user: string, address: string, at: number): Promise<void> {
    await this.db.run(
      `INSERT INTO user_emails (user_name, address, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (user_name) DO UPDATE SET address = excluded.address, updated_at = excluded.updated_at`,
      [user, address, at],
    );
  }

  async userEmails(): Promise<Record<string, string>> {
    const rows = await this.db.all<{ user_name: string; address: string }>(
      'SELECT user_name, address FROM user_emails',
    );
    return Object.fromEntries(rows.map((r) => [r.user_name, r.address]));
  }

  private toMail(r: MailRow): QueuedMail {
    return {
      id: r.id,
      user: r.user_name,
      address: r.address,
      kind: r.kind as MailKind,
      link: this.box.open(r.link_sealed, `mail:${r.id}`),
      expiresAt: r.expires_at,
      attempts: r.attempts,
      nextAttemptAt: r.next_attempt_at,
      lastError: r.last_error,
      createdAt: r.created_at,
    };
  }

  async enqueueMail(mail: NewMail, at: number): Promise<QueuedMail> {
    const id = randomUUID();
    // Two statements outside one transaction are fine here: the delete only drops mail that
    // carries a link the new enrollment has already voided.
    await this.db.run('DELETE FROM mail_queue WHERE user_name = ?', [mail.user]);
    await this.db.run(
      `INSERT INTO mail_queue (id, user_name, address, kind, link_sealed, expires_at, attempts, next_attempt_at, created_at)
         VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)`,
      [
        id,
        mail.user,
        mail.address,
        mail.kind,
        this.box.seal(mail.link, `mail:${id}`),
        mail.expiresAt,
        at,
        at,
      ],
    );
    return { ...mail, id, attempts: 0, nextAttemptAt: at, lastError: null, createdAt: at };
  }

  async dueMail(now: number, limit: number): Promise<QueuedMail[]> {
    const rows = await this.db.all<MailRow>(
      'SELECT * FROM mail_queue WHERE next_attempt_at <= ? ORDER BY next_attempt_at, created_at, id LIMIT ?',
      [now, limit],
    );
    return rows.map((r) => this.toMail(r));
  }

  async getMail(id: string): Promise<QueuedMail | null> {
    const row = await this.db.get<MailRow>('SELECT * FROM mail_queue WHERE id = ?', [id]);
    return row ? this.toMail(row) : null;
  }

  async deleteMail(id: string): Promise<void> {
    await this.db.run('DELETE FROM mail_queue WHERE id = ?', [id]);
  }

  async mailFailed(id: string, error: string, nextAttemptAt: number): Promise<void> {
    await this.db.run(
      'UPDATE mail_queue SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?',
      [error, nextAttemptAt, id],
    );
  }

  async mailQueue(): Promise<Omit<QueuedMail, 'link'>[]> {
    const rows = await this.db.all<MailRow>('SELECT * FROM mail_queue ORDER BY created_at, id');
    return rows.map((r) => ({
      id: r.id,
      user: r.user_name,
      address: r.address,
      kind: r.kind as MailKind,
      expiresAt: r.expires_at,
      attempts: r.attempts,
      nextAttemptAt: r.next_attempt_at,
      lastError: r.last_error,
      createdAt: r.created_at,
    }));
  }

  async getForwardCursor(destination: string): Promise<number | null> {
    const row = await this.db.get<{ last_seq: number }>(
      'SELECT last_seq FROM forward_cursors WHERE destination = ?',
      [destination],
    );
    return row?.last_seq ?? null;
  }

  async setForwardCursor(destination: string, seq: number, at: number): Promise<void> {
    await this.db.run(
      `INSERT INTO forward_cursors (destination, last_seq, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (destination) DO UPDATE SET last_seq = excluded.last_seq, updated_at = excluded.updated_at`,
      [destination, seq, at],
    );
  }

  async lastEventSeq(): Promise<number> {
    const row = await this.db.get<{ s: number | null }>('SELECT MAX(seq) AS s FROM events');
    return row?.s ?? 0;
  }

  async eventsAfter(seq: number, limit: number): Promise<StoredEvent[]> {
    const rows = await this.db.all<EventRow>(
      'SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?',
      [seq, limit],
    );
    return rows.map(eventFromRow);
  }
}
