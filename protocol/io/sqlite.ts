/**
 * A small promise layer over the `sqlite3` package, shared by the server's and the agent's stores.
 *
 * One connection per database. `transaction()` runs callbacks one at a time (a queue), so two
 * async transactions never interleave on the connection; statements outside a transaction also
 * wait for the queue, so they never land inside someone else's transaction.
 */
import sqlite3 from 'sqlite3';

export type Row = Record<string, unknown>;
export type Params = unknown[] | Record<string, unknown>;

export interface Queryable {
  run(sql: string, params?: Params): Promise<{ changes: number; lastID: number }>;
  get<T = Row>(sql: string, params?: Params): Promise<T | undefined>;
  all<T = Row>(sql: string, params?: Params): Promise<T[]>;
  exec(sql: string): Promise<void>;
}

export class Database implements Queryable {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly db: sqlite3.Database) {}

  /** Opens (creating when absent) the file; WAL and the given synchronous level. */
  static async open(
    path: string,
    options: { synchronous?: 'FULL' | 'NORMAL'; readonly?: boolean } = {},
  ): Promise<Database> {
    const mode = options.readonly
      ? sqlite3.OPEN_READONLY
      : sqlite3.OPEN_READWRITE | sqlite3.OPEN_CREATE;
    const raw = await new Promise<sqlite3.Database>((resolve, reject) => {
      const d = new sqlite3.Database(path, mode, (err) => (err ? reject(err) : resolve(d)));
    });
    const db = new Database(raw);
    raw.configure('busyTimeout', 5000);
    if (!options.readonly) {
      await db.direct.exec(
        `PRAGMA journal_mode=WAL; PRAGMA synchronous=${options.synchronous ?? 'FULL'}; PRAGMA foreign_keys=ON;`,
      );
    }
    return db;
  }

  /** Statements straight on the connection, bypassing the queue (only inside the queue). */
  private get direct(): Queryable {
    const db = this.db;
    return {
      run: (sql, params = []) =>
        new Promise((resolve, reject) => {
          db.run(sql, params, function (this: sqlite3.RunResult, err: Error | null) {
            if (err) reject(err);
            else resolve({ changes: this.changes, lastID: this.lastID });
          });
        }),
      get: <T>(sql: string, params: Params = []) =>
        new Promise<T | undefined>((resolve, reject) => {
          db.get(sql, params, (err: Error | null, row: T) => (err ? reject(err) : resolve(row)));
        }),
      all: <T>(sql: string, params: Params = []) =>
        new Promise<T[]>((resolve, reject) => {
          db.all(sql, params, (err: Error | null, rows: T[]) =>
            err ? reject(err) : resolve(rows),
          );
        }),
      exec: (sql) =>
        new Promise<void>((resolve, reject) => {
          db.exec(sql, (err) => (err ? reject(err) : resolve()));
        }),
    };
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  run(sql: string, params?: Params) {
    return this.enqueue(() => this.direct.run(sql, params));
  }
  get<T = Row>(sql: string, params?: Params) {
    return this.enqueue(() => this.direct.get<T>(sql, params));
  }
  all<T = Row>(sql: string, params?: Params) {
    return this.enqueue(() => this.direct.all<T>(sql, params));
  }
  exec(sql: string) {
    return this.enqueue(() => this.direct.exec(sql));
  }

  /**
   * Runs `fn` inside BEGIN IMMEDIATE … COMMIT; any throw rolls back and rethrows. Callbacks are
   * serialized: the next transaction starts after this one has committed or rolled back.
   * `beforeCommit` (a test seam) runs after `fn`, before COMMIT.
   */
  transaction<T>(
    fn: (tx: Queryable) => Promise<T>,
    beforeCommit?: () => Promise<void>,
  ): Promise<T> {
    return this.enqueue(async () => {
      const tx = this.direct;
      await tx.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(tx);
        await beforeCommit?.();
        await tx.exec('COMMIT');
        return result;
      } catch (err) {
        await tx.exec('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  /**
   * BEGIN IMMEDIATE, the statements of `sql`, COMMIT — and on any failure ROLLBACK — all in ONE
   * queue slot, so nothing queued meanwhile can run inside the open transaction and be undone
   * with it. Without `beforeCommit` the whole script is one sqlite3_exec (one trip to the
   * database thread); `beforeCommit` (a test seam) runs between the statements and COMMIT.
   * Values in `sql` must already be safe literals (the caller renders them).
   */
  script(sql: string, beforeCommit?: () => Promise<void>): Promise<void> {
    return this.enqueue(async () => {
      const tx = this.direct;
      try {
        if (beforeCommit) {
          await tx.exec(`BEGIN IMMEDIATE;\n${sql};`);
          await beforeCommit();
          await tx.exec('COMMIT');
        } else {
          await tx.exec(`BEGIN IMMEDIATE;\n${sql};\nCOMMIT;`);
        }
      } catch (err) {
        await tx.exec('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  /**
   * Applies numbered migrations in order, each in its own transaction, recording the schema
   * version in `PRAGMA user_version`. Refuses a database newer than this program.
   */
  async migrate(migrations: readonly string[]): Promise<number> {
    const row = await this.get<{ user_version: number }>('PRAGMA user_version');
    const current = row?.user_version ?? 0;
    if (current > migrations.length) {
      throw new Error(
        `database schema version ${current} is newer than this program (${migrations.length})`,
      );
    }
    for (let v = current; v < migrations.length; v++) {
      await this.transaction(async (tx) => {
        await tx.exec(migrations[v] as string);
        await tx.exec(`PRAGMA user_version = ${v + 1}`);
      });
    }
    return migrations.length;
  }

  close(): Promise<void> {
    return this.enqueue(
      () =>
        new Promise<void>((resolve, reject) =>
          this.db.close((err) => (err ? reject(err) : resolve())),
        ),
    );
  }
}
