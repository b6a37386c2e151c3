/**
 * The store's driver interface: one set of portable SQL statements runs on either backend
 * (SQLite: server/store/db-sqlite.ts, PostgreSQL: server/store/db-postgres.ts).
 *
 * Portable SQL means: `?` placeholders (the PostgreSQL driver numbers them), BIGINT for every
 * integer column (PostgreSQL's INTEGER is 32-bit; ms timestamps need 64), TEXT for strings and
 * JSON, `"user"` quoted (a reserved word in PostgreSQL), `INSERT ... ON CONFLICT`, `RETURNING`,
 * aliases on every subquery, 0/1 instead of booleans, no SQLite- or PostgreSQL-only functions.
 */
import { StoreFaultError, type StoreHealth } from './health.js';

export type Row = Record<string, unknown>;

export interface Queryable {
  /** A statement; `changes` is how many rows it inserted, updated or deleted. */
  run(sql: string, params?: readonly unknown[]): Promise<{ changes: number }>;
  get<T = Row>(sql: string, params?: readonly unknown[]): Promise<T | undefined>;
  all<T = Row>(sql: string, params?: readonly unknown[]): Promise<T[]>;
}

export interface Tx extends Queryable {
  /** True when the transaction was opened with `serialize` naming this table. */
  serializes(table: string): boolean;
  /** Runs `fn` once the transaction has committed (not on rollback, not on a retried attempt). */
  afterCommit(fn: () => void): void;
}

export interface TxOptions {
  /**
   * Tables whose writers must commit one at a time, in the order they wrote: the change log
   * (revisions gap-free and ordered) and the events (seq in commit order), and one-use tokens
   * (no retry storm when many claim one). PostgreSQL takes `LOCK TABLE ... IN SHARE ROW
   * EXCLUSIVE MODE` on each before the transaction's snapshot; SQLite serializes every write
   * transaction anyway. Readers are never blocked.
   */
  serialize?: readonly string[];
  /** The transaction only reads (a consistent snapshot). */
  readOnly?: boolean;
}

export interface Db extends Queryable {
  readonly dialect: 'sqlite' | 'postgres';
  /** The last time the store could not write, until a write commits again (health.ts). */
  readonly health: StoreHealth;
  /**
   * Runs `fn` in one transaction: SQLite's serialized BEGIN IMMEDIATE, PostgreSQL's SERIALIZABLE.
   * On PostgreSQL a serialization failure or deadlock (40001, 40P01) rolls back and runs `fn`
   * again (bounded, with jittered backoff), so `fn` must only touch the database through `tx`
   * and have no other side effects (use `tx.afterCommit`). A throw rolls back and rethrows.
   */
  transaction<T>(fn: (tx: Tx) => Promise<T>, options?: TxOptions): Promise<T>;
  /** Applies the migrations not applied yet; refuses a schema newer than this program. */
  migrate(migrations: readonly Migration[]): Promise<number>;
  /** The schema version applied (0 for an empty database). */
  schemaVersion(): Promise<number>;
  close(): Promise<void>;
}

/** One schema step: portable SQL, or the two dialects' own DDL where they must differ. */
export type Migration = string | { sqlite: string; postgres: string };

export function migrationSql(m: Migration, dialect: Db['dialect']): string {
  return typeof m === 'string' ? m : m[dialect];
}

/** The database cannot be reached (PostgreSQL down, restarting, out of connections). */
export function storeUnavailable(reason: string): StoreFaultError {
  return new StoreFaultError('unreachable', reason);
}

/** Base of a transaction object: the options' table set and the commit hooks. */
export function txState(options: TxOptions): {
  serializes: (table: string) => boolean;
  afterCommit: (fn: () => void) => void;
  committed: () => void;
} {
  const tables = new Set(options.serialize ?? []);
  const hooks: (() => void)[] = [];
  return {
    serializes: (table) => tables.has(table),
    afterCommit: (fn) => {
      hooks.push(fn);
    },
    committed: () => {
      for (const h of hooks) h();
    },
  };
}
