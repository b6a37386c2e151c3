/**
 * What every part of the SQL store shares: the driver, the secret box, the change-log retention
 * and the "revision committed" listeners. The parts (users.ts, devices.ts, ...) are functions of
 * a StoreCore; sql-store.ts puts them behind the Store interface.
 */
import type { SecretBox } from './crypto.js';
import type { Db, Tx } from './db.js';
import { notifyStatement } from './listen-pg.js';
import type { Notice } from './notices.js';

export interface StoreCore {
  readonly db: Db;
  readonly box: SecretBox;
  /** How many change-log entries to keep; older revisions get a snapshot. */
  readonly retention: number;
  /**
   * Tells the server what committed (store/notices.ts): call it from `tx.afterCommit`, so a
   * rolled-back or retried attempt tells nothing.
   */
  notify(notice: Notice): void;
}

/**
 * Tells what `tx` commits, once it has: this process at once (after COMMIT), and with PostgreSQL
 * every replica through `pg_notify` inside the transaction (sent at COMMIT, never for a rollback
 * or a retried attempt; store/listen-pg.ts hears it).
 */
export async function announce(core: StoreCore, tx: Tx, notice: Notice): Promise<void> {
  if (core.db.dialect === 'postgres') await tx.get(...notifyStatement(notice));
  tx.afterCommit(() => core.notify(notice));
}

/** Options of a transaction that bumps the revision (changelog.ts insists on it). */
export const REVISION_TX = { serialize: ['changes'] } as const;
/** Options of a transaction that inserts events (seq in commit order). */
export const EVENTS_TX = { serialize: ['events'] } as const;
/** Options of a transaction that appends to the audit log (seq in commit order, as events). */
export const AUDIT_TX = { serialize: ['audit'] } as const;
export const READ_TX = { readOnly: true } as const;

/** JSON text of a column, parsed (the groups lists, policies, facts). */
export function parseJson<T>(text: string): T {
  return JSON.parse(text) as T;
}
