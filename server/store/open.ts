/** The one constructor: SQLite in the data dir, or PostgreSQL at a URL; migrated, ready. */
import type { SecretBox } from './crypto.js';
import type { Db } from './db.js';
import { PostgresDb } from './db-postgres.js';
import { SqliteDb } from './db-sqlite.js';
import { MIGRATIONS } from './migrations.js';
import { SqlStore, type StoreOptions } from './sql-store.js';

export type StoreLocation = { sqlite: string } | { postgres: string };

export interface OpenStoreOptions extends StoreOptions {
  /** PostgreSQL: a pooled connection broke while idle (the reason never holds a password). */
  onConnectionError?: (reason: string) => void;
}

/** Opens the driver for `location`, applies the migrations not applied yet, returns the store. */
export async function openStore(
  location: StoreLocation,
  box: SecretBox,
  options: OpenStoreOptions = {},
): Promise<SqlStore> {
  const db = await openDb(location, options);
  try {
    await db.migrate(MIGRATIONS);
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
  return new SqlStore(db, box, options);
}

/** The driver alone, not migrated (init checks the schema version before it migrates). */
export async function openDb(location: StoreLocation, options: OpenStoreOptions = {}): Promise<Db> {
  if ('sqlite' in location) return SqliteDb.open(location.sqlite);
  return PostgresDb.open(location.postgres, {
    ...(options.onConnectionError ? { onIdleError: options.onConnectionError } : {}),
  });
}
