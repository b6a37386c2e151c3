/**
 * The SQLite driver: the one-connection queue of protocol/io/sqlite.ts (every transaction is
 * BEGIN IMMEDIATE and they run one at a time, so any `serialize` request is already met). A
 * full disk, a read-only file or an I/O error is STORE_UNAVAILABLE naming it (health.ts); the
 * transaction it hit was rolled back.
 */
import { Database, type Queryable as RawQueryable } from '../../protocol/io/sqlite.js';
import { migrationSql, txState, type Db, type Migration, type Queryable, type Tx } from './db.js';
import { sqliteFault, StoreHealth } from './health.js';

function portable(q: RawQueryable): Queryable {
  return {
    run: async (sql, params = []) => ({ changes: (await q.run(sql, [...params])).changes }),
    get: (sql, params = []) => q.get(sql, [...params]),
    all: (sql, params = []) => q.all(sql, [...params]),
  };
}

export class SqliteDb implements Db {
  readonly dialect = 'sqlite' as const;
  readonly health = new StoreHealth();
  private readonly q: Queryable;

  private constructor(private readonly db: Database) {
    this.q = portable(db);
  }

  /** Opens (creating when absent) the file: WAL, synchronous FULL, foreign keys on. */
  static async open(path: string): Promise<SqliteDb> {
    return new SqliteDb(await Database.open(path, { synchronous: 'FULL' }));
  }

  /** One statement (its own transaction), watched like a transaction. */
  private one<T>(op: (q: Queryable) => Promise<T>): Promise<T> {
    return this.health.track((counted) =>
      op(counted(this.q)).catch((err: unknown) => {
        throw sqliteFault(err);
      }),
    );
  }

  run(sql: string, params?: readonly unknown[]) {
    return this.one((q) => q.run(sql, params));
  }
  get<T>(sql: string, params?: readonly unknown[]) {
    return this.one((q) => q.get<T>(sql, params));
  }
  all<T>(sql: string, params?: readonly unknown[]) {
    return this.one((q) => q.all<T>(sql, params));
  }

  async transaction<T>(fn: (tx: Tx) => Promise<T>, options: Parameters<Db['transaction']>[1] = {}) {
    const state = txState(options);
    const result = await this.health.track((counted) =>
      this.db
        .transaction((raw) =>
          fn(
            counted({
              ...portable(raw),
              serializes: state.serializes,
              afterCommit: state.afterCommit,
            }),
          ),
        )
        .catch((err: unknown) => {
          throw sqliteFault(err);
        }),
    );
    state.committed();
    return result;
  }

  migrate(migrations: readonly Migration[]): Promise<number> {
    return this.db.migrate(migrations.map((m) => migrationSql(m, 'sqlite')));
  }

  async schemaVersion(): Promise<number> {
    const row = await this.db.get<{ user_version: number }>('PRAGMA user_version');
    return row?.user_version ?? 0;
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
