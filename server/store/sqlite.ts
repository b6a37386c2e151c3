/**
 * The SQLite store by its old name, for callers that open a file directly (unit tests): the one
 * SQL store (sql-store.ts) over the SQLite driver. New code calls openStore (open.ts).
 */
import type { SecretBox } from './crypto.js';
import { openStore } from './open.js';
import type { SqlStore, StoreOptions } from './sql-store.js';

export type SqliteStoreOptions = StoreOptions;
export type SqliteStore = SqlStore;
export const SqliteStore = {
  /** Opens (and migrates) the database at `path`. */
  open: (path: string, box: SecretBox, options: StoreOptions = {}): Promise<SqlStore> =>
    openStore({ sqlite: path }, box, options),
};
